package scenario

import (
	"runtime"
	"testing"
)

func TestCgroupCPUs(t *testing.T) {
	for _, tc := range []struct {
		cpus   int
		cpuMax string
		want   int
	}{
		{4, "200000 100000\n", 2},
		{4, "150000 100000", 2}, // 1.5 CPUs keep two busy
		{4, "50000 100000", 1},
		{4, "800000 100000", 4}, // a quota above the machine's CPUs
		{4, "max 100000", 4},
		{4, "-1 100000", 4}, // cgroup v1: no quota
		{4, "", 4},
		{4, "garbage", 4},
	} {
		if got := cgroupCPUs(tc.cpus, tc.cpuMax); got != tc.want {
			t.Errorf("cgroupCPUs(%d, %q) = %d, want %d", tc.cpus, tc.cpuMax, got, tc.want)
		}
	}
	if m := ThisMachine(); m.CPUs < 1 || m.CPUs > runtime.NumCPU() {
		t.Errorf("this machine: %d CPUs, NumCPU %d", m.CPUs, runtime.NumCPU())
	}
}
