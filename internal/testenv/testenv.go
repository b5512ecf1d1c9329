// Package testenv keeps a test binary from reading the machine's own
// configuration: a test that simulates must get the model's built-in
// constants, not the calibration this machine's user last measured.
package testenv

import (
	"fmt"
	"os"
)

// Main runs m with $XDG_CONFIG_HOME (where ilities keeps calibration.json)
// in an empty temporary folder, removed afterwards, and returns its exit
// code. A test that wants a calibration file writes one there, or sets its
// own folder with t.Setenv.
func Main(m interface{ Run() int }) int {
	dir, err := os.MkdirTemp("", "ilities-config-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("XDG_CONFIG_HOME", dir); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	return m.Run()
}
