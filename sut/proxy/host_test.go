package proxy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
)

// stretchTolerated is how much the host may have stretched this
// process's work (hiccup.Figures.Stretch) for a failed check still to be
// the code's doing. Beside compiles and busy loops, a proxy test's process
// waited for a processor 60% of the time (×2.5) with a wake-up p99 of only
// 10 ms: what the proxy served per second fell with it.
const stretchTolerated = 1.25

// failOrSkip ends a check that failed and holds only while the host lets
// this process run: an error when the host's delay (figure: host.Max or
// host.P99, whichever the check depends on) stayed within what the check
// tolerates and the process waited for a processor little enough
// (stretchTolerated), else a skip with the figures, since the failure may
// then be the neighbour's doing.
func failOrSkip(t *testing.T, host hiccup.Figures, figure, tolerated time.Duration, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if figure > tolerated {
		t.Skipf("%s; not a failure: the host delayed this process by %v, past the %v this check tolerates (%v)", msg, figure, tolerated, host)
	}
	if host.Stretch() > stretchTolerated {
		t.Skipf("%s; not a failure: the host stretched this process's work ×%.2f, past the ×%.2f this check tolerates (%v)", msg, host.Stretch(), stretchTolerated, host)
	}
	t.Error(msg)
}
