// Package procs lends processors to event loops. A loop sleeps in a raw
// system call, so the runtime still counts its goroutine as running and
// its processor as busy: each loop therefore adds one to GOMAXPROCS while
// it runs, so that the rest of the process keeps the processors it had.
package procs

import (
	"runtime"
	"sync"
)

var state struct {
	mu    sync.Mutex
	loops int
	base  int
}

// Base is GOMAXPROCS without the processors held for loops: what the
// process would have without them, the count to size a pool of loops by.
func Base() int {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.loops == 0 {
		return runtime.GOMAXPROCS(0)
	}
	return state.base
}

// Hold adds n processors for n loops; the function returned gives them
// back. Holds from several users (the load generator's loops, the proxy's)
// add up.
func Hold(n int) (release func()) {
	state.mu.Lock()
	if state.loops == 0 {
		state.base = runtime.GOMAXPROCS(0)
	}
	state.loops += n
	runtime.GOMAXPROCS(state.base + state.loops)
	state.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			state.mu.Lock()
			state.loops -= n
			runtime.GOMAXPROCS(state.base + state.loops)
			state.mu.Unlock()
		})
	}
}
