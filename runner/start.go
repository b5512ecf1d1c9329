package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ilities/ilities/internal/hrtimer"
)

// StartTolerance is how far past its start time (Options.StartAt) a run
// may still start: a process that reaches the instant later than that
// would start its clock out of step with the others, so it is an error
// instead of a silent late start.
const StartTolerance = 50 * time.Millisecond

// DefaultStartLead is how far ahead the instant of "next:PERIOD" must be
// at least, when the form names no lead of its own.
const DefaultStartLead = 2 * time.Second

// ParseStartAt reads a run's start time (run --start-at), now being the
// time the process started:
//
//   - an RFC 3339 time, "2026-12-07T12:00:00Z" (fractions of a second
//     allowed): that instant;
//   - "+DURATION", "+30s": that long after now, the process's start (for
//     one machine: processes that start apart start apart);
//   - "next:PERIOD" or "next:PERIOD,LEAD", "next:30s" or "next:1m,10s": the
//     first instant that is a whole multiple of PERIOD since the Unix
//     epoch (UTC) and at least LEAD (DefaultStartLead) after now. Every
//     process that computes it within the same PERIOD−LEAD window gets the
//     same instant, with nothing shared but the clock: the form for pods
//     of one Job, which start seconds apart.
func ParseStartAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, fmt.Errorf("start time: empty; want an RFC 3339 time, +DURATION or next:PERIOD[,LEAD]")
	case strings.HasPrefix(s, "+"):
		d, err := time.ParseDuration(s[1:])
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("start time %q: want +DURATION such as +30s", s)
		}
		return now.Add(d), nil
	case strings.HasPrefix(s, "next:"):
		periodText, leadText, hasLead := strings.Cut(s[len("next:"):], ",")
		period, err := time.ParseDuration(periodText)
		if err != nil || period < time.Second {
			return time.Time{}, fmt.Errorf("start time %q: want next:PERIOD with a PERIOD of 1s or more, such as next:30s", s)
		}
		lead := DefaultStartLead
		if hasLead {
			if lead, err = time.ParseDuration(leadText); err != nil || lead < 0 {
				return time.Time{}, fmt.Errorf("start time %q: want next:PERIOD,LEAD with a LEAD such as 10s", s)
			}
		}
		return NextMultiple(now.Add(lead), period), nil
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("start time %q: want an RFC 3339 time (2026-12-07T12:00:00Z), +DURATION (+30s) or next:PERIOD[,LEAD] (next:30s)", s)
	}
	if late := now.Sub(at); late > StartTolerance {
		return time.Time{}, fmt.Errorf("start time %s passed %s ago: a run never starts late", at.UTC().Format(time.RFC3339Nano), late.Round(time.Millisecond))
	}
	return at, nil
}

// NextMultiple is the first instant at or after t that is a whole multiple
// of period since the Unix epoch, in wall-clock time (no monotonic reading).
func NextMultiple(t time.Time, period time.Duration) time.Time {
	ns := t.UnixNano()
	p := period.Nanoseconds()
	next := (ns + p - 1) / p * p
	if ns <= 0 { // before 1970: division rounds toward zero
		next = ns / p * p
	}
	return time.Unix(0, next).UTC()
}

// waitForStart sleeps until the wall clock reads at (the zero time: not at
// all), or ctx ends. Reaching it more than StartTolerance late is an
// error. The wait is coarse until the last second, re-reading the clock,
// then precise (internal/hrtimer).
func waitForStart(ctx context.Context, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	at = at.Round(0) // the wall clock's instant, whatever the clock did meanwhile
	if late := time.Since(at); late > StartTolerance {
		return fmt.Errorf("start time %s passed %s ago while the run was being set up: a run never starts late",
			at.UTC().Format(time.RFC3339Nano), late.Round(time.Millisecond))
	}
	for {
		left := time.Until(at)
		if left <= 0 {
			return nil
		}
		if left > time.Second {
			left = min(left-time.Second/2, 10*time.Second)
		}
		if !hrtimer.Sleep(left, ctx.Done()) {
			return fmt.Errorf("interrupted while waiting for the start time %s: nothing was sent", at.UTC().Format(time.RFC3339Nano))
		}
	}
}
