package spill

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"testing"
)

// Values come back exactly as added (floats to the bit, nil and empty maps
// apart), and no file is left behind.
func TestSpillRoundTrips(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	// The shape of a run's finished window: counts, maps, slices, floats
	// and an encoded histogram.
	type window struct {
		Counts    [4]int64
		Nodes     map[string]int64
		Workloads [][2]int64
		Latency   struct{ P50, P90, P99, Max float64 }
		Histogram string
	}
	first := window{Counts: [4]int64{3, 0, 1}, Nodes: map[string]int64{"a": 2, "b": 1},
		Workloads: [][2]int64{{3, 3}, {1, 0}}, Histogram: "HISTFAAAAB94nJNpmSzMwMDAzAABMBqE"}
	first.Latency.P50, first.Latency.P90, first.Latency.P99, first.Latency.Max = 0.1+0.2, 1.5, 2.25, 1e-7
	want := []window{first, {Workloads: [][2]int64{{0, 0}, {0, 0}}}, {Nodes: map[string]int64{}}}
	var s List[window]
	for _, w := range want {
		s.Add(w)
	}
	if s.onDisk != len(want) || len(s.mem) != 0 {
		t.Fatalf("%d values on disk, %d in memory; want all on disk", s.onDisk, len(s.mem))
	}
	got, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%#v\nwant\n%#v", got, want)
	}
	s.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}

	var m List[map[string]float64]
	m.Add(map[string]float64{})
	m.Add(map[string]float64{"a": 0.1})
	if got, err := m.All(); err != nil || got[0] == nil || len(got[0]) != 0 || got[1]["a"] != 0.1 {
		t.Errorf("maps read back as %#v (%v)", got, err)
	}
	m.Close()
}

// Without a usable temporary directory, or once a write fails, values are
// kept in memory: nothing is lost.
func TestSpillFallsBackToMemory(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	var s List[int]
	for i := range 3 {
		s.Add(i)
	}
	if got, err := s.All(); err != nil || !reflect.DeepEqual(got, []int{0, 1, 2}) || s.onDisk != 0 {
		t.Errorf("no temporary directory: %v (%v), %d on disk", got, err, s.onDisk)
	}
	s.Close()

	if runtime.GOOS != "linux" {
		t.Skip("fails writes through /proc/self/fd")
	}
	t.Setenv("TMPDIR", t.TempDir())
	var w List[int]
	w.Add(0)
	w.Add(1)
	// The same file, read-only: the next write fails, reading still works.
	ro, err := os.Open("/proc/self/fd/" + strconv.Itoa(int(w.f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	w.f.Close()
	w.f = ro
	w.Add(2)
	w.Add(3)
	if got, err := w.All(); err != nil || !reflect.DeepEqual(got, []int{0, 1, 2, 3}) || w.onDisk != 2 {
		t.Errorf("after a failed write: %v (%v), %d on disk", got, err, w.onDisk)
	}
	w.Close()
}
