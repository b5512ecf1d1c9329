package workflow

import (
	"context"
	"fmt"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// Confirmation is one live run at the capacity a simulated search found,
// beside the simulated figures at that rate: how far the model is from
// this machine's SUT where it matters most.
type Confirmation struct {
	RateRPS float64 `json:"rate_rps"`
	// Simulated are the simulated steps' figures at RateRPS (their mean).
	Simulated CurvePoint `json:"simulated"`
	// Live is the live run, judged as a live step is: invalid when the
	// apparatus, not the SUT, decided it (Live.Reason says why).
	Live Step `json:"live"`
}

// confirm runs one live step at c's highest passing rate, as asked of a
// live search (its step length, or the live default): nothing when no
// rate passed.
func (c *Capacity) confirm(ctx context.Context, sc *scenario.Scenario, base float64, asked CapacityOptions) error {
	if c.MaxRateRPS <= 0 {
		c.Note = strings.TrimPrefix(c.Note+"; no rate passed, so none was run live to confirm", "; ")
		return nil
	}
	live := asked
	live.Simulate, live.Confirm = false, false
	live.defaults()
	f := &Confirmation{RateRPS: c.MaxRateRPS}
	for _, p := range c.Curve() {
		if p.RateRPS == c.MaxRateRPS {
			f.Simulated = p
		}
	}
	st, err := runStep(ctx, sc, c.MaxRateRPS, base, len(c.Steps), live, newExecutor(false, live.Version))
	if err != nil {
		return err
	}
	st.Phase, st.Attempt = "confirm", 1
	f.Live = st
	c.Confirmation = f
	if live.Progress != nil {
		fmt.Fprintf(live.Progress, "capacity: live run at %.1f/s to confirm: p50 %.2fms p99 %.2fms mean %.2fms: %s\n",
			st.RateRPS, st.P50MS, st.P99MS, st.MeanMS, f.Outcome())
	}
	return nil
}

// Outcome is the live run's result in words.
func (f *Confirmation) Outcome() string {
	switch s := f.Live; {
	case !s.Valid:
		return "invalid, no confirmation: " + s.Reason
	case s.Pass:
		return "pass"
	default:
		return "fail: " + strings.Join(s.Failed, "; ")
	}
}

// writeMarkdown writes the live run beside the simulated figures.
func (f *Confirmation) writeMarkdown(b *strings.Builder) {
	fmt.Fprintf(b, "\nLive run at %.1f/s to confirm the simulated capacity: **%s**.\n\n", f.RateRPS, f.Outcome())
	b.WriteString("| at the capacity | simulated | live |\n| --- | ---: | ---: |\n")
	s, l := f.Simulated, f.Live
	fmt.Fprintf(b, "| throughput | %.1f/s | %.1f/s |\n", s.ThroughputRPS, l.ThroughputRPS)
	fmt.Fprintf(b, "| mean | %.2fms | %.2fms |\n", s.MeanMS, l.MeanMS)
	fmt.Fprintf(b, "| p50 | %.2fms | %.2fms |\n", s.P50MS, l.P50MS)
	fmt.Fprintf(b, "| p99 | %.2fms | %.2fms |\n", s.P99MS, l.P99MS)
	fmt.Fprintf(b, "| apparatus delay | none | %.3gms (%.0f%%) |\n", l.ApparatusDelayMS, 100*l.ApparatusShare)
}
