package report

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The interval log reads back, with hdrhistogram-go's own reader, as the
// run's windows: one histogram per second, at its instant, with its counts
// and percentiles; a run started mid-second keeps its milliseconds, and one
// of unknown start is logged with offsets from 0.
func TestWriteHdrLogReadsBack(t *testing.T) {
	cases := []struct {
		name    string
		started time.Time
		header  []string
	}{
		{"started on a whole second", time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC), []string{
			"#[StartTime: 1741944413 (seconds since epoch), 2025-03-14T09:26:53Z]\n",
			"#[BaseTime: 1741944413 (seconds since epoch)]\n",
			"\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n0.000000,1.000000,",
		}},
		{"started mid-second", time.Date(2025, 3, 14, 9, 26, 53, 456e6, time.UTC), []string{
			"#[BaseTime: 1741944413 (seconds since epoch)]\n",
			"\"Interval_Compressed_Histogram\"\n0.456000,1.000000,",
		}},
		{"start unknown", time.Time{}, []string{
			"\"Interval_Compressed_Histogram\"\n0.000000,1.000000,",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := richResult(t)
			res.Started = tc.started
			res.Windows[7].Histogram = "" // a second in which nothing completed
			var buf bytes.Buffer
			if err := WriteHdrLog(&buf, res); err != nil {
				t.Fatal(err)
			}
			log := buf.String()
			for _, want := range append([]string{
				"#[Histogram log format version 1.3]\n",
				"#[ilities latency (completion - intended send time) in microseconds, one histogram per second: checkout under backend failure]\n",
			}, tc.header...) {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q", want)
				}
			}
			if tc.started.IsZero() && (strings.Contains(log, "StartTime:") || strings.Contains(log, "BaseTime:")) {
				t.Error("a log of unknown start names a StartTime or BaseTime")
			}
			var startMs int64 // where the reader places second 0
			if !tc.started.IsZero() {
				startMs = tc.started.UnixMilli()
			}
			reader := hdrhistogram.NewHistogramLogReader(&buf)
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
				if h.TotalCount() != want.TotalCount() || h.Max() != want.Max() {
					t.Errorf("interval %d: count %d max %d, want %d %d", i, h.TotalCount(), h.Max(), want.TotalCount(), want.Max())
				}
				for _, q := range []float64{50, 90, 99, 99.9} {
					if got, want := h.ValueAtQuantile(q), want.ValueAtQuantile(q); got != want {
						t.Errorf("interval %d: p%g %d µs, want %d", i, q, got, want)
					}
				}
				if got, want := h.StartTimeMs(), startMs+int64(win.T)*1000; got != want {
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
		})
	}
}

func TestWriteHdrLogRefusesACorruptWindow(t *testing.T) {
	res := richResult(t)
	res.Windows[3].Histogram = "HISTFAAAA-garbage"
	if err := WriteHdrLog(&bytes.Buffer{}, res); err == nil || !strings.Contains(err.Error(), "window 3") {
		t.Fatalf("got %v, want an error naming window 3", err)
	}
}

// HdrHistogram's reference tool, HistogramLogProcessor (Java; Debian's
// libhdrhistogram-java), reads the log as the run's windows: each
// interval's count, median, p90 and maximum, and the whole run's count.
func TestHdrLogReadByHistogramLogProcessor(t *testing.T) {
	const jar = "/usr/share/java/hdrhistogram.jar"
	java, err := exec.LookPath("java")
	if _, statErr := os.Stat(jar); err != nil || statErr != nil {
		t.Skipf("skipping the check with HdrHistogram's own tool: needs java and %s (install the Debian package libhdrhistogram-java, which .ci/run does, and a Java runtime)", jar)
	}
	res := richResult(t)
	res.Windows[7].Histogram = ""
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := WriteHdrLog(&buf, res); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "latency.hlog")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "intervals")
	cmd := exec.Command(java, "-cp", jar, "org.HdrHistogram.HistogramLogProcessor",
		"-i", in, "-o", out, "-csv", "-outputValueUnitRatio", "1")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("HistogramLogProcessor: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, `"`) {
			row, err := csv.NewReader(strings.NewReader(line)).Read()
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			rows = append(rows, row)
		}
	}
	if len(rows) != len(res.Windows) {
		t.Fatalf("%d intervals, want %d:\n%s", len(rows), len(res.Windows), data)
	}
	// Columns: Timestamp, Int_Count, Int_50%, Int_90%, Int_Max, Total_Count, ...
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	for i, win := range res.Windows {
		h, _ := DecodeHistogram(win.Histogram)
		row := rows[i]
		got := []float64{num(row[0]), num(row[1]), num(row[2]), num(row[3]), num(row[4])}
		want := []float64{float64(win.T + 1), float64(h.TotalCount()), float64(h.ValueAtQuantile(50)), float64(h.ValueAtQuantile(90)), float64(h.Max())}
		for c := range got {
			if got[c] != want[c] {
				t.Errorf("interval %d: HistogramLogProcessor read (end s, count, p50, p90, max) %v, want %v", i, got, want)
				break
			}
		}
	}
	all, _ := DecodeHistogram(res.Histograms.Latency)
	if got, want := num(rows[len(rows)-1][5]), float64(all.TotalCount()-200); got != want {
		t.Errorf("total count %g, want %g", got, want)
	}
}
