// Package crash gives an internal error (a panic) its own exit code. Go
// ends a process whose goroutine panics with exit code 2, which the CLI
// gives to invalid input: a CI pipeline would blame the scenario for a
// bug. Every goroutine the tool starts defers Guard.
package crash

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// ExitCode is the exit code of an internal error.
const ExitCode = 4

// Guard, deferred at the top of a goroutine, turns a panic into a report
// on stderr and exit code ExitCode.
func Guard() {
	if r := recover(); r != nil {
		Report(os.Stderr, r, debug.Stack())
		os.Exit(ExitCode)
	}
}

// Report writes to w what an internal error is and where it happened.
func Report(w io.Writer, r any, stack []byte) {
	fmt.Fprintf(w, "ilities: internal error (a bug, please report it with this message): %v\n%s", r, stack)
}
