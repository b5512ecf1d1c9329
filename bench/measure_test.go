package main

import (
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	s := func(v float64, noise string) sample {
		return sample{result: result{fig: map[string]float64{"x": v}}, noise: noise}
	}
	cases := []struct {
		name string
		ss   []sample
		want spread
	}{
		{"odd", []sample{s(3, ""), s(1, ""), s(2, "")}, spread{med: 2, lo: 1, hi: 3, n: 3}},
		{"even", []sample{s(4, ""), s(1, ""), s(2, ""), s(10, "")}, spread{med: 3, lo: 1, hi: 10, n: 4}},
		{"noisy rounds counted, kept", []sample{s(5, "busy"), s(1, ""), s(3, "busy")}, spread{med: 3, lo: 1, hi: 5, n: 3, noisy: 2}},
		{"a round without the figure", []sample{s(2, ""), {result: result{fig: map[string]float64{}}}, s(4, "")}, spread{med: 3, lo: 2, hi: 4, n: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := summarize(c.ss, fig("x")); got != c.want {
				t.Errorf("summarize = %+v, want %+v", got, c.want)
			}
		})
	}
	if got := summarize(nil, fig("x")); got.n != 0 || !math.IsNaN(got.med) {
		t.Errorf("no rounds: %+v", got)
	}
}

func TestNoise(t *testing.T) {
	lim := noiseLimit{others: 0.10, steal: 0.10}
	cases := []struct {
		name string
		w    window
		want string // a part of the reason, "" for quiet
	}{
		{"quiet", window{wall: 10, busy: 15, measured: 14.5}, ""},
		{"softirq threads are the measured traffic's", window{wall: 10, busy: 20, measured: 14.5, softirqd: 5}, ""},
		{"others above the limit", window{wall: 10, busy: 20, measured: 14.5}, "other processes used 0.55 of a core"},
		{"just above", window{wall: 10, busy: 15.6, measured: 14.5}, "0.11 of a core"},
		{"steal", window{wall: 10, busy: 15, measured: 15, steal: 2}, "the host took 0.20 of a core"},
		{"measured more than busy (tick rounding)", window{wall: 1, busy: 1, measured: 1.02}, ""},
		{"no length", window{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := lim.noisy(c.w)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("noisy = %q, want %q", got, c.want)
			}
		})
	}
}

// TestMeasure runs measure over a fake /proc that a "run" changes: the
// server trees' CPU, the machine's, and what is left to others.
func TestMeasure(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"stat":    "cpu  1000 0 500 9000 0 10 10 0 0 0\n",
		"loadavg": "0.50 0.40 0.30 2/100 1\n",
		"10/stat": statLine(10, 1, "nginx", 100, 0, 0, 0),
		"11/stat": statLine(11, 10, "nginx", 50, 50, 0, 0),
		"20/stat": statLine(20, 1, "haproxy", 0, 0, 0, 0),
		"30/stat": statLine(30, 2, "ksoftirqd/0", 0, 0, 0, 0),
		"40/stat": statLine(40, 1, "other", 0, 0, 0, 0),
	})
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(string(fs), name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := measure(fs, map[string]int{"target": 10, "proxy": 20}, func() (result, error) {
		write("10/stat", statLine(10, 1, "nginx", 120, 0, 30, 0)) // a worker ended: 30 ticks into cutime
		write("11/stat", statLine(11, 10, "nginx", 100, 100, 0, 0))
		write("20/stat", statLine(20, 1, "haproxy", 70, 30, 0, 0))
		write("30/stat", statLine(30, 2, "ksoftirqd/0", 0, 25, 0, 0))
		write("40/stat", statLine(40, 1, "other", 40, 0, 0, 0))
		// busy +400 ticks: target 150, proxy 100, tool 85, softirq 25, other 40
		write("stat", "cpu  1300 0 600 9100 0 12 13 5 0 0\n")
		write("loadavg", "1.50 0.40 0.30 4/100 1\n")
		return result{requests: 1000, cpu: 0.85, fig: map[string]float64{}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.trees["target"] != 1.5 || s.trees["proxy"] != 1.0 {
		t.Errorf("trees = %v, want target 1.5 s, proxy 1.0 s", s.trees)
	}
	w := s.win
	if w.busy != 4 || w.softirqd != 0.25 || w.irq != 0.05 || w.steal != 0.05 {
		t.Errorf("window = %+v", w)
	}
	// measured: 0.85 + 1.5 + 1.0 (+ this process's own, not in the fake /proc)
	if math.Abs(w.measured-3.35) > 1e-9 {
		t.Errorf("measured = %v, want 3.35", w.measured)
	}
	if got := (w.busy - w.measured - w.softirqd); math.Abs(got-0.40) > 1e-9 {
		t.Errorf("others' CPU = %v s, want 0.40", got)
	}
	if w.before.load1 != 0.5 || w.during.load1 != 1.5 || w.during.runnable != 4 {
		t.Errorf("load before %+v, during %+v", w.before, w.during)
	}
	if perRequest(s.trees["proxy"], s.requests) != 1000 {
		t.Errorf("proxy CPU per request = %v µs, want 1000", perRequest(s.trees["proxy"], s.requests))
	}
}

func TestSockets(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc")
	}
	fs := procfs("/proc")
	before := fs.sockets(os.Getpid())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := fs.sockets(os.Getpid()); got < before+2 {
		t.Errorf("sockets: %d, then %d with a listener and a connection more", before, got)
	}
}
