package report

import (
	"bytes"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The interval log reads back, with hdrhistogram-go's own reader, as the
// run's windows: one histogram per second, at its offset, with its counts.
func TestWriteHdrLogReadsBack(t *testing.T) {
	res := richResult(t)
	res.Windows[7].Histogram = "" // a second in which nothing completed
	var buf bytes.Buffer
	if err := WriteHdrLog(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#[Histogram log format version 1.3]\n",
		"#[StartTime: 1741944413.000 (seconds since epoch), 2025-03-14T09:26:53.000Z]\n",
		"#[BaseTime: 1741944413.000 (seconds since epoch)]\n",
		"\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n0.000,1.000,",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	reader := hdrhistogram.NewHistogramLogReader(&buf)
	started := res.Started.UnixMilli()
	var total int64
	for i, win := range res.Windows {
		h, err := reader.NextIntervalHistogram()
		if err != nil || h == nil {
			t.Fatalf("interval %d: %v, %v", i, h, err)
		}
		want, err := DecodeHistogram(win.Histogram)
		if err != nil {
			t.Fatal(err)
		}
		if h.TotalCount() != want.TotalCount() || h.Max() != want.Max() || h.ValueAtQuantile(99) != want.ValueAtQuantile(99) {
			t.Errorf("interval %d: count %d max %d p99 %d, want %d %d %d", i,
				h.TotalCount(), h.Max(), h.ValueAtQuantile(99), want.TotalCount(), want.Max(), want.ValueAtQuantile(99))
		}
		if got, want := h.StartTimeMs(), started+int64(win.T)*1000; got != want {
			t.Errorf("interval %d starts at %d ms, want %d", i, got, want)
		}
		if got, want := h.EndTimeMs()-h.StartTimeMs(), int64(1000); got != want {
			t.Errorf("interval %d lasts %d ms, want %d", i, got, want)
		}
		total += h.TotalCount()
	}
	if h, err := reader.NextIntervalHistogram(); h != nil || err != nil {
		t.Errorf("more intervals than windows: %v, %v", h, err)
	}
	all, _ := DecodeHistogram(res.Histograms.Latency)
	if want := all.TotalCount() - 200; total != want { // window 7's 200 samples were removed
		t.Errorf("intervals hold %d samples, want %d", total, want)
	}
}

func TestWriteHdrLogRefusesACorruptWindow(t *testing.T) {
	res := richResult(t)
	res.Windows[3].Histogram = "HISTFAAAA-garbage"
	if err := WriteHdrLog(&bytes.Buffer{}, res); err == nil || !strings.Contains(err.Error(), "window 3") {
		t.Fatalf("got %v, want an error naming window 3", err)
	}
}
