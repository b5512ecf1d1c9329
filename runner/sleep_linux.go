package runner

import (
	"syscall"
	"time"
)

// preciseSleep blocks the calling thread for d with nanosleep. The Go
// runtime's timers wake up to a millisecond late on Linux when the process
// is otherwise idle (its poller waits in whole milliseconds); nanosleep is
// accurate to tens of microseconds and costs no CPU. The runtime hands the
// thread's processor to other goroutines while the call blocks.
func preciseSleep(d time.Duration) {
	if d < 20*time.Microsecond { // below the kernel's timer slack: not worth a call
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
