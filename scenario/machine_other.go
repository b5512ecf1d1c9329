//go:build !linux

package scenario

import "runtime"

// readMachine assumes a small machine where its bounds cannot be read:
// the open-file limit of macOS's launchd and 4 GiB, with the CPUs the
// system reports.
func readMachine() Machine {
	return Machine{OpenFiles: 10240, Memory: 4 << 30, CPUs: runtime.NumCPU()}
}
