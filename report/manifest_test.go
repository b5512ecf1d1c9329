package report

import (
	"runtime"
	"testing"

	"github.com/ilities/ilities/internal/procs"
)

// The manifest records the machine's CPUs, not GOMAXPROCS as event loops
// raised it, and the process's own GOMAXPROCS apart.
func TestManifestRecordsTheMachinesCPUs(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	for _, loops := range []int{0, 3} {
		release := procs.Hold(loops)
		m := NewManifest("")
		release()
		if m.CPUs < 1 || m.CPUs > runtime.NumCPU() {
			t.Errorf("%d loops running: cpus %d on a machine of %d", loops, m.CPUs, runtime.NumCPU())
		}
		if m.GOMAXPROCS != base {
			t.Errorf("%d loops running: gomaxprocs %d, want the process's own %d", loops, m.GOMAXPROCS, base)
		}
	}
}
