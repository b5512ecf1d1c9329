package runner

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/ilities/ilities/report"
)

// Values come back exactly as added (floats to the bit, nil and empty maps
// apart), and no file is left behind.
func TestSpillRoundTrips(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	want := []finishedWindow{
		{Counts: [numOutcomes]int64{outSuccess: 3, out5xx: 1}, Nodes: map[string]int64{"a": 2, "b": 1},
			Workloads: []report.WindowCount{{3, 3}, {1, 0}}, Latency: report.WindowLatency{P50: 0.1 + 0.2, P90: 1.5, P99: 2.25, Max: 1e-7},
			Histogram: "HISTFAAAAB94nJNpmSzMwMDAzAABMBqE"},
		{Workloads: []report.WindowCount{{0, 0}, {0, 0}}},
		{Nodes: map[string]int64{}},
	}
	var s spill[finishedWindow]
	for _, w := range want {
		s.add(w)
	}
	if s.onDisk != len(want) || len(s.mem) != 0 {
		t.Fatalf("%d values on disk, %d in memory; want all on disk", s.onDisk, len(s.mem))
	}
	got, err := s.all()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%#v\nwant\n%#v", got, want)
	}
	s.close()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}

	var m spill[map[string]float64]
	m.add(map[string]float64{})
	m.add(map[string]float64{"a": 0.1})
	if got, err := m.all(); err != nil || got[0] == nil || len(got[0]) != 0 || got[1]["a"] != 0.1 {
		t.Errorf("maps read back as %#v (%v)", got, err)
	}
	m.close()
}

// Without a usable temporary directory, or once a write fails, values are
// kept in memory: nothing is lost.
func TestSpillFallsBackToMemory(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	var s spill[int]
	for i := range 3 {
		s.add(i)
	}
	if got, err := s.all(); err != nil || !reflect.DeepEqual(got, []int{0, 1, 2}) || s.onDisk != 0 {
		t.Errorf("no temporary directory: %v (%v), %d on disk", got, err, s.onDisk)
	}
	s.close()

	if runtime.GOOS != "linux" {
		t.Skip("fails writes through /proc/self/fd")
	}
	t.Setenv("TMPDIR", t.TempDir())
	var w spill[int]
	w.add(0)
	w.add(1)
	// The same file, read-only: the next write fails, reading still works.
	ro, err := os.Open("/proc/self/fd/" + strconv.Itoa(int(w.f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	w.f.Close()
	w.f = ro
	w.add(2)
	w.add(3)
	if got, err := w.all(); err != nil || !reflect.DeepEqual(got, []int{0, 1, 2, 3}) || w.onDisk != 2 {
		t.Errorf("after a failed write: %v (%v), %d on disk", got, err, w.onDisk)
	}
	w.close()
}
