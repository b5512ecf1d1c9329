package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// WriteHdrLog writes the run's latency as an HdrHistogram interval log
// (latency.hlog, log format 1.3, by hdrhistogram-go's HistogramLogWriter):
// one compressed histogram per second of the run, which HdrHistogram's own
// tools (HistogramLogProcessor, HdrHistogram plotters, hdrhistogram-go's
// HistogramLogReader) read. Values are microseconds (so
// HistogramLogProcessor wants -outputValueUnitRatio 1000 to print
// milliseconds); the writer scales the Interval_Max column by 10⁶, so it
// is in seconds. The log's StartTime and BaseTime hold whole seconds: the
// base is the second the run started in, and each interval's timestamp is
// its offset from that base, so BaseTime + timestamp is the instant the
// window began, to the millisecond.
func WriteHdrLog(w io.Writer, res *Result) error {
	bw := bufio.NewWriter(w) // keeps the first write error for Flush
	lw := hdrhistogram.NewHistogramLogWriter(bw)
	lw.OutputLogFormatVersion()
	name := strings.Join(strings.Fields(res.Scenario), " ") // one line, whatever the name holds
	lw.OutputComment("[ilities latency (completion - intended send time) in microseconds, one histogram per second: " + name + "]")
	var startMs int64
	if !res.Started.IsZero() {
		startMs = res.Started.UnixMilli()
		base := startMs - startMs%1000
		lw.SetBaseTime(base)
		lw.OutputStartTime(startMs)
		lw.OutputBaseTime(base)
	}
	lw.OutputLegend()
	ta := newTimeAxis(res)
	for i, win := range res.Windows {
		h, err := DecodeHistogram(win.Histogram)
		if err != nil {
			return fmt.Errorf("window %d: %w", win.T, err)
		}
		// An empty second is logged too: the log's timeline has no holes.
		begin := startMs + int64(win.T)*1000
		h.SetStartTimeMs(begin)
		h.SetEndTimeMs(begin + int64(math.Round(ta.span[i]*1000)))
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return fmt.Errorf("window %d: %w", win.T, err)
		}
	}
	return bw.Flush()
}
