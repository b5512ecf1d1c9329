// Command noise makes a busy neighbour for the test suite: the CPU
// contention a shared CI machine sees, on demand and bounded in time.
//
//	go run ./bench/noise [-threads 160] [-busy 4] [-duration 10m]
//
// -threads N spins N goroutines, each locked to its own OS thread and busy,
// so the kernel holds N runnable threads (a neighbour with many threads);
// -busy K runs K plain busy loops on the Go scheduler (a CPU hog such as a
// parallel compile). It prints its PID, stops by itself after -duration,
// and stops early on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	threads := flag.Int("threads", 0, "goroutines each locked to its own OS thread, spinning")
	busy := flag.Int("busy", 0, "plain busy loops")
	duration := flag.Duration("duration", 10*time.Minute, "how long to run (it always stops by itself)")
	flag.Parse()
	if *threads < 0 || *busy < 0 || *duration <= 0 {
		fmt.Fprintln(os.Stderr, "noise: -threads and -busy must be >= 0, -duration > 0")
		os.Exit(2)
	}
	if *threads == 0 && *busy == 0 {
		*busy = runtime.NumCPU()
	}
	// Locked threads each need a P to run Go code; without enough Ps they
	// would queue in the runtime rather than in the kernel.
	if n := *threads + *busy; n > runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
	}
	fmt.Printf("noise: pid %d, %d locked threads, %d busy loops, for %v\n", os.Getpid(), *threads, *busy, *duration)

	var stop atomic.Bool
	spin := func(lock bool) {
		if lock {
			runtime.LockOSThread()
		}
		x := uint64(1)
		for !stop.Load() {
			for range 1 << 12 {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		_ = x
	}
	for range *threads {
		go spin(true)
	}
	for range *busy {
		go spin(false)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-time.After(*duration):
	case s := <-sig:
		fmt.Printf("noise: %v\n", s)
	}
	stop.Store(true)
}
