package runner

import (
	"time"

	"github.com/ilities/ilities/report"
)

// Meter is the apparatus meter on its own, for a process that measures its
// delays beside a run without sending the run's load: a built-in SUT
// served in a process of its own. It takes the figures a run's meter
// takes, on the run's clock. It goes on after the run until asked, so the
// run's hiccups are those of the windows Result is asked for.
type Meter struct{ m *apparatusMeter }

// StartMeter begins measuring on the run's clock, whose origin is start.
func StartMeter(start time.Time) *Meter {
	m := newApparatusMeter()
	m.runOfWindows = true
	m.begin(start)
	return &Meter{m: m}
}

// Result stops the meter and returns what it measured, with one window per
// second for windows [0, windows).
func (m *Meter) Result(windows int) (*report.Apparatus, error) { return m.m.result(windows) }

// Close stops the meter and releases what it holds; Result cannot be
// called after.
func (m *Meter) Close() { m.m.close() }
