package report

import (
	"strings"
	"testing"
	"time"
)

func TestDelayedBeyond(t *testing.T) {
	run := func(windowDelays []float64, pressure float64) *Result {
		a := &Apparatus{CPUPressure: pressure, CPUShare: 0.01, Processors: 2}
		for i, d := range windowDelays {
			a.Windows = append(a.Windows, ApparatusWindow{T: i, DelayMS: d})
		}
		return &Result{Apparatus: a}
	}
	for _, c := range []struct {
		name string
		res  *Result
		want string // a part of the account; "" for none
	}{
		{"calm", run([]float64{0.2, 0.3}, 0.1), ""},
		{"pressure unknown", run([]float64{0.2, 0.3}, -1), ""},
		{"a window past the tolerance", run([]float64{0.2, 12.5}, 0.1), "12.5ms (p99) in second 1"},
		{"starved with calm wake-ups", run([]float64{0.2, 0.3}, 0.99), "waiting for a CPU 99% of the run"},
		{"no apparatus", &Result{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := DelayedBeyond(c.res, 10*time.Millisecond)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("%q, want %q", got, c.want)
			}
		})
	}
}
