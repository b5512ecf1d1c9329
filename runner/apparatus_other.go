//go:build !linux

package runner

import "time"

// machineProbe outside Linux: the system says nothing of CPU pressure or
// steal, so only the process's own usage is read.
type machineProbe struct{}

func openMachineProbe() machineProbe { return machineProbe{} }

func (machineProbe) reading(at time.Duration) machineReading {
	return machineReading{at: at, usage: readProcessUsage(), pressureUS: -1}
}

func (machineProbe) close() {}

// loadAverage is not read outside Linux.
func loadAverage() float64 { return 0 }
