package runner

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// progress reports a run as it goes: on a terminal one line redrawn every
// second, elsewhere a plain line every 5 s. It runs on the collector's
// goroutine, right after each harvest.
type progress struct {
	w        io.Writer
	live     bool
	total    time.Duration
	warmup   time.Duration
	faults   func() []string
	ticks    int
	lastDone int64
	lastAt   time.Duration
	drawn    bool
}

func newProgress(opts Options, total, warmup time.Duration) *progress {
	return &progress{w: opts.Progress, live: opts.Live, total: total, warmup: warmup, faults: opts.ActiveFaults}
}

func (p *progress) tick(c *collector, now time.Duration) {
	if p == nil || p.w == nil {
		return
	}
	p.ticks++
	if !p.live && p.ticks%progressEvery != 0 {
		return
	}
	line := p.line(c, now)
	if p.live {
		// Carriage return and erase the line: one line, redrawn.
		fmt.Fprintf(p.w, "\r\x1b[2K%s", line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// line is elapsed/total, the rate of completions since the last line, the
// p99 latency of the last second, the failures and drops so far, and the
// faults in effect.
func (p *progress) line(c *collector, now time.Duration) string {
	done, failed, dropped := c.completed()
	rate := 0.0
	if dt := (now - p.lastAt).Seconds(); dt > 0 {
		rate = float64(done-p.lastDone) / dt
	}
	p.lastDone, p.lastAt = done, now
	p99 := float64(c.recent.ValueAtQuantile(99)) / 1000
	var b strings.Builder
	// The report's formatter, so the line and the summary write a figure alike.
	fmt.Fprintf(&b, "%s/%s  %.1f req/s  p99(1s) %s  errors %d  dropped %d",
		now.Round(time.Second), p.total.Round(time.Second), rate, report.FormatValue(p99, scenario.UnitDuration), failed, dropped)
	if now < p.warmup {
		b.WriteString("  (warm-up)")
	}
	if p.faults != nil {
		if active := p.faults(); len(active) > 0 {
			fmt.Fprintf(&b, "  faults: %s", strings.Join(active, ", "))
		}
	}
	return b.String()
}

// done ends a redrawn line so that what follows starts on its own line.
func (p *progress) done() {
	if p != nil && p.w != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}
