package scenario

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// readMachine reads the open-file hard limit, the memory: MemTotal, or the
// cgroup's memory.max when that is lower, and the CPUs: NumCPU, or the
// cgroup's CPU quota when that is lower.
func readMachine() Machine {
	m := Machine{OpenFiles: 1024, Memory: 1 << 30, CPUs: cgroupCPUs(runtime.NumCPU(), readCPUMax())}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		m.OpenFiles = int64(min(lim.Max, 1<<40))
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64); err == nil {
					m.Memory = kb << 10
				}
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && n > 0 && n < m.Memory {
			m.Memory = n
		}
	}
	return m
}

// readCPUMax reads the cgroup's CPU quota as cgroup v2's cpu.max writes it
// ("QUOTA PERIOD", or "max PERIOD" for none), from cgroup v1's two files
// when there is no cpu.max; "" when neither can be read.
func readCPUMax() string {
	if b, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
		return string(b)
	}
	quota, qerr := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	period, perr := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
	if qerr != nil || perr != nil {
		return ""
	}
	return string(bytes.TrimSpace(quota)) + " " + string(bytes.TrimSpace(period))
}

// cgroupCPUs is cpus, or the CPUs a cgroup quota (cpu.max's "QUOTA PERIOD")
// allows when fewer, rounded up: a quota of 1.5 CPUs keeps two busy.
func cgroupCPUs(cpus int, cpuMax string) int {
	fields := strings.Fields(cpuMax)
	if len(fields) != 2 {
		return cpus
	}
	quota, qerr := strconv.ParseFloat(fields[0], 64)
	period, perr := strconv.ParseFloat(fields[1], 64)
	if qerr != nil || perr != nil || quota <= 0 || period <= 0 {
		return cpus // "max", or cgroup v1's -1: no quota
	}
	return min(cpus, max(1, int(math.Ceil(quota/period))))
}
