package crash

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const panicEnv = "ILITIES_TEST_CRASH_PANIC"

// TestGuardExitsWithItsCode re-executes the test binary to panic on a
// goroutine under Guard: the process ends with ExitCode, not Go's 2, and
// says what happened.
func TestGuardExitsWithItsCode(t *testing.T) {
	if os.Getenv(panicEnv) == "1" {
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer Guard()
			var m map[string]int
			m["x"] = 1 // a nil map: a runtime panic
		}()
		<-done
		os.Exit(0) // not reached
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGuardExitsWithItsCode$")
	cmd.Env = append(os.Environ(), panicEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != ExitCode {
		t.Fatalf("exit %d, want %d\n%s", code, ExitCode, stderr.String())
	}
	if !strings.Contains(stderr.String(), "internal error") || !strings.Contains(stderr.String(), "nil map") {
		t.Errorf("stderr lacks the report:\n%s", stderr.String())
	}
}
