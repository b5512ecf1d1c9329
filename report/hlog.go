package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteHdrLog writes the run's latency as an HdrHistogram interval log
// (latency.hlog, log format 1.3): one compressed histogram per second of
// the run, which HdrHistogram's own tools (HistogramLogProcessor,
// HdrHistogram plotters, hdrhistogram-go's HistogramLogReader) read.
// Values are microseconds (so HistogramLogProcessor wants
// -outputValueUnitRatio 1000 to print milliseconds); the Interval_Max
// column is in milliseconds. Interval timestamps are seconds from the
// start of the run, with the start as the log's BaseTime.
func WriteHdrLog(w io.Writer, res *Result) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "#[Histogram log format version %s]\n", hdrhistogram.HISTOGRAM_LOG_FORMAT_VERSION)
	name := strings.Join(strings.Fields(res.Scenario), " ") // one line, whatever the name holds
	fmt.Fprintf(bw, "#[ilities latency (completion - intended send time) in microseconds, one histogram per second: %s]\n", name)
	if !res.Started.IsZero() {
		ms := res.Started.UnixMilli()
		fmt.Fprintf(bw, "#[StartTime: %.3f (seconds since epoch), %s]\n", float64(ms)/1000, res.Started.UTC().Format("2006-01-02T15:04:05.000Z"))
		fmt.Fprintf(bw, "#[BaseTime: %.3f (seconds since epoch)]\n", float64(ms)/1000)
	}
	fmt.Fprintln(bw, `"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`)
	ta := newTimeAxis(res)
	for i, win := range res.Windows {
		h, err := DecodeHistogram(win.Histogram)
		if err != nil {
			return fmt.Errorf("window %d: %w", win.T, err)
		}
		// An empty second is logged too: the log's timeline has no holes.
		payload, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return fmt.Errorf("window %d: %w", win.T, err)
		}
		fmt.Fprintf(bw, "%.3f,%.3f,%.3f,%s\n", float64(win.T), ta.span[i], float64(h.Max())/1000, payload)
	}
	return bw.Flush()
}
