package runner

import "testing"

func TestParseStationTiming(t *testing.T) {
	cases := []struct {
		header             string
		queueUS, serviceUS int32
	}{
		{"queue;dur=0.000, service;dur=12.345", 0, 12345},
		{"queue;dur=1.5, service;dur=40", 1500, 40000},
		{"service;dur=2.0004;desc=\"x\", queue;desc=q;dur=3", 3000, 2000},
		{"db;dur=9, cache;dur=1", 0, 0},
		{"queue;dur=abc, service;dur=-1, other", 0, 0},
		{"queue, service;dur=.", 0, 0},
		{"service;dur=99999999999", 0, 1<<31 - 1},
		{"", 0, 0},
	}
	for _, c := range cases {
		got := parseStationTiming([]byte(c.header))
		if got.queueUS != c.queueUS || got.serviceUS != c.serviceUS {
			t.Errorf("%q: queue %dµs service %dµs, want %d and %d", c.header, got.queueUS, got.serviceUS, c.queueUS, c.serviceUS)
		}
	}
	v := []byte("queue;dur=0.250, service;dur=12.345")
	if n := testing.AllocsPerRun(100, func() { parseStationTiming(v) }); n != 0 {
		t.Errorf("%v allocations per header, want none: it runs for every answer", n)
	}
}
