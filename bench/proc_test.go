package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// fakeProc lays out a /proc with the given files.
func fakeProc(t *testing.T, files map[string]string) procfs {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return procfs(root)
}

// statLine is a /proc/PID/stat line with the fields the harness reads.
func statLine(pid, ppid int, comm string, utime, stime, cutime, cstime int) string {
	return strconv.Itoa(pid) + " (" + comm + ") S " + strconv.Itoa(ppid) + " 1 1 0 -1 4194560 100 0 0 0 " +
		strconv.Itoa(utime) + " " + strconv.Itoa(stime) + " " + strconv.Itoa(cutime) + " " + strconv.Itoa(cstime) +
		" 20 0 1 0 100 1000 200\n"
}

func TestProcTree(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"1/stat":    statLine(1, 0, "init", 5, 5, 0, 0),
		"10/stat":   statLine(10, 1, "nginx", 100, 50, 7, 3), // 10 ticks of ended children
		"11/stat":   statLine(11, 10, "nginx", 400, 200, 0, 0),
		"12/stat":   statLine(12, 11, "a (weird) name", 1, 2, 0, 0),
		"20/stat":   statLine(20, 1, "wrk", 999, 999, 0, 0),
		"30/stat":   statLine(30, 2, "ksoftirqd/0", 30, 40, 0, 0),
		"31/stat":   statLine(31, 2, "ksoftirqd/1", 1, 2, 0, 0),
		"self/x":    "not a process",
		"11/status": "Name:\tnginx\nVmRSS:\t    2048 kB\n",
		"10/status": "Name:\tnginx\nVmRSS:\t    1024 kB\n",
	})
	all := fs.processes()
	if len(all) != 7 {
		t.Fatalf("processes: %d, want 7: %+v", len(all), all)
	}
	s, err := fs.readStat(12)
	if err != nil || s.comm != "a (weird) name" || s.ppid != 11 || s.own != 3 {
		t.Errorf("readStat(12) = %+v, %v", s, err)
	}
	var pids []int
	for _, p := range tree(all, 10) {
		pids = append(pids, p.pid)
	}
	slices.Sort(pids)
	if !slices.Equal(pids, []int{10, 11, 12}) {
		t.Errorf("tree(10) = %v, want [10 11 12]", pids)
	}
	if got := treeTicks(all, 10); got != 150+10+600+3 {
		t.Errorf("treeTicks(10) = %d, want 763", got)
	}
	if got := treeTicks(all, 99); got != 0 || tree(all, 99) != nil {
		t.Errorf("a process that is gone: %d ticks", got)
	}
	if got := kernelNetTicks(all); got != 73 {
		t.Errorf("kernelNetTicks = %d, want 73", got)
	}
	if got := fs.treeRSS(10); got != 3072 {
		t.Errorf("treeRSS(10) = %d KiB, want 3072", got)
	}
	if _, err := fs.readStat(5); err == nil {
		t.Error("readStat of a missing process: no error")
	}
}

func TestMachineFiles(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		cpu   cpuTimes
		load  loadState
		err   bool
	}{
		{
			name: "with pressure",
			files: map[string]string{
				"stat":         "cpu  100 20 30 5000 7 3 4 9 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n",
				"loadavg":      "1.50 0.80 0.40 3/213 5700\n",
				"pressure/cpu": "some avg10=12.50 avg60=3.00 avg300=1.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
			},
			cpu:  cpuTimes{busy: 150, irq: 7, steal: 9},
			load: loadState{load1: 1.5, runnable: 3, pressure10: 12.5},
		},
		{
			name:  "no pressure accounting",
			files: map[string]string{"stat": "cpu  1 2 3 4 5 6 7 8\n", "loadavg": "0.10 0.20 0.30 1/100 9\n"},
			cpu:   cpuTimes{busy: 6, irq: 13, steal: 8},
			load:  loadState{load1: 0.1, runnable: 1, pressure10: -1},
		},
		{name: "not /proc/stat", files: map[string]string{"stat": "intr 1 2 3\n"}, load: loadState{pressure10: -1}, err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := fakeProc(t, c.files)
			cpu, err := fs.cpuTimes()
			if (err != nil) != c.err || cpu != c.cpu {
				t.Errorf("cpuTimes = %+v, %v; want %+v, error %v", cpu, err, c.cpu, c.err)
			}
			if got := fs.load(); got != c.load {
				t.Errorf("load = %+v, want %+v", got, c.load)
			}
		})
	}
}

// TestOwnTree reads this test's own process tree from the real /proc: a
// busy child is in it while it runs, and its CPU stays in the tree's
// total after it ended (the parent's cutime).
func TestOwnTree(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	fs := procfs("/proc")
	self := os.Getpid()
	before := treeTicks(fs.processes(), self)
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range tree(fs.processes(), self) {
		found = found || p.pid == cmd.Process.Pid
	}
	if !found {
		t.Errorf("the running child %d is not in the tree of %d", cmd.Process.Pid, self)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	child := exited(cmd)
	after := treeTicks(fs.processes(), self)
	if child < 0.02 {
		t.Fatalf("the busy child used %.3fs of CPU", child)
	}
	// The tree grew by at least the child's CPU, less what the clock ticks
	// leave out: /proc counts user and system time apart, each in whole
	// ticks (10 ms), where the child's own figure is to the microsecond.
	if got := float64(after-before) / ticksPerSecond; got < child-2.0/ticksPerSecond {
		t.Errorf("the tree grew by %.2fs, the child alone used %.2fs", got, child)
	}
}
