package procs

import (
	"runtime"
	"testing"
)

// Holds add up, Base ignores them, and each release gives back its own.
func TestHoldsAddUpAndBaseIgnoresThem(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	releaseA := Hold(2)
	if got := runtime.GOMAXPROCS(0); got != before+2 {
		t.Fatalf("after Hold(2): GOMAXPROCS %d, want %d", got, before+2)
	}
	releaseB := Hold(1)
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Fatalf("after Hold(1) more: GOMAXPROCS %d, want %d", got, before+3)
	}
	if got := Base(); got != before {
		t.Fatalf("Base %d while holding, want %d", got, before)
	}
	releaseA()
	releaseA() // a second call gives back nothing more
	if got := runtime.GOMAXPROCS(0); got != before+1 {
		t.Fatalf("after releasing 2: GOMAXPROCS %d, want %d", got, before+1)
	}
	releaseB()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("after releasing all: GOMAXPROCS %d, want %d", got, before)
	}
}
