package proxy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
)

// failOrSkip ends a check that failed and holds only while the host lets
// this process run: an error when the host's delay (figure: host.Max or
// host.P99, whichever the check depends on) stayed within what the check
// tolerates, else a skip with the figures, since the failure may then be
// the neighbour's doing.
func failOrSkip(t *testing.T, host hiccup.Figures, figure, tolerated time.Duration, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if figure > tolerated {
		t.Skipf("%s; not a failure: the host delayed this process by %v, past the %v this check tolerates (%v)", msg, figure, tolerated, host)
	}
	t.Error(msg)
}
