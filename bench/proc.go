package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// What the harness reads from /proc. Every reader takes the /proc folder
// (procfs), so that the tests can hand it a fake one. Times in /proc are in
// clock ticks of USER_HZ, 100 a second on every Linux.

const ticksPerSecond = 100

type procfs string

// stat is one process's /proc/PID/stat, the fields the harness reads.
type stat struct {
	pid, ppid int
	comm      string
	// utime+stime: the process's own CPU; cutime+cstime: that of its
	// children that ended and were waited for, so a tree's total does not
	// fall when one of its processes ends.
	own, children int64
}

// readStat parses /proc/PID/stat. The command name is in parentheses and may
// hold spaces and parentheses itself: the fields are counted from the last ')'.
func (p procfs) readStat(pid int) (stat, error) {
	b, err := os.ReadFile(filepath.Join(string(p), strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return stat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state): field k is f[k-3].
	if len(f) < 15 {
		return stat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	num := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
	return stat{
		pid: pid, ppid: int(num(4)), comm: s[open+1 : end],
		own: num(14) + num(15), children: num(16) + num(17),
	}, nil
}

// processes reads every process's stat; one that ends meanwhile is left out.
func (p procfs) processes() []stat {
	dirs, _ := os.ReadDir(string(p))
	var out []stat
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if s, err := p.readStat(pid); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// tree is root and every descendant of it, from one reading of all
// processes.
func tree(all []stat, root int) []stat {
	kids := map[int][]stat{}
	var out []stat
	for _, s := range all {
		kids[s.ppid] = append(kids[s.ppid], s)
		if s.pid == root {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i].pid]...)
	}
	return out
}

// treeTicks is the CPU of root's whole tree: each process's own time and
// its ended children's.
func treeTicks(all []stat, root int) int64 {
	var t int64
	for _, s := range tree(all, root) {
		t += s.own + s.children
	}
	return t
}

// kernelNetTicks is the CPU of the kernel's softirq threads (ksoftirqd/N),
// which carry part of the loopback traffic of the measured processes: it
// is theirs, not another tenant's.
func kernelNetTicks(all []stat) int64 {
	var t int64
	for _, s := range all {
		if strings.HasPrefix(s.comm, "ksoftirqd/") {
			t += s.own
		}
	}
	return t
}

// cpuTimes is /proc/stat's first line: the whole machine's CPU.
type cpuTimes struct {
	// busy: user + nice + system, the time processes ran (guest time is
	// inside user); irq: hard and soft interrupts, accounted apart from
	// processes where the kernel does so; steal: time the host gave
	// another guest.
	busy, irq, steal int64
}

func (p procfs) cpuTimes() (cpuTimes, error) {
	b, err := os.ReadFile(filepath.Join(string(p), "stat"))
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	// cpu user nice system idle iowait irq softirq steal ...
	return cpuTimes{busy: n(1) + n(2) + n(3), irq: n(6) + n(7), steal: n(8)}, nil
}

// loadState is the machine's load at one moment.
type loadState struct {
	load1    float64 // /proc/loadavg's 1-minute average
	runnable int     // /proc/loadavg's running threads, this reader among them
	// pressure10: /proc/pressure/cpu's "some avg10", the share of the last
	// 10 s in which some runnable thread waited for a CPU (%); -1 where
	// the kernel has no pressure accounting.
	pressure10 float64
}

func (p procfs) load() loadState {
	st := loadState{pressure10: -1}
	if b, err := os.ReadFile(filepath.Join(string(p), "loadavg")); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 4 {
			st.load1, _ = strconv.ParseFloat(f[0], 64)
			run, _, _ := strings.Cut(f[3], "/")
			st.runnable, _ = strconv.Atoi(run)
		}
	}
	if b, err := os.ReadFile(filepath.Join(string(p), "pressure", "cpu")); err == nil {
		for _, field := range strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) {
			if v, ok := strings.CutPrefix(field, "avg10="); ok {
				st.pressure10, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return st
}

func (l loadState) String() string {
	s := fmt.Sprintf("load %.2f, %d runnable", l.load1, l.runnable)
	if l.pressure10 >= 0 {
		s += fmt.Sprintf(", CPU pressure %.0f%%", l.pressure10)
	}
	return s
}

// treeRSS is the resident memory of root's tree, in KiB (VmRSS).
func (p procfs) treeRSS(root int) int64 {
	var kib int64
	for _, s := range tree(p.processes(), root) {
		kib += p.statusKiB(s.pid, "VmRSS:")
	}
	return kib
}

func (p procfs) statusKiB(pid int, key string) int64 {
	f, err := os.Open(filepath.Join(string(p), strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

// sockets counts the sockets root's tree holds open.
func (p procfs) sockets(root int) int {
	n := 0
	for _, s := range tree(p.processes(), root) {
		fds, _ := os.ReadDir(filepath.Join(string(p), strconv.Itoa(s.pid), "fd"))
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(string(p), strconv.Itoa(s.pid), "fd", fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
				n++
			}
		}
	}
	return n
}
