package runner

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// sleeper waits precisely for short spans: the runtime's timers wake up to
// a millisecond late on Linux when the process is otherwise idle (its
// poller waits in whole milliseconds). A timerfd fires on the kernel's
// high-resolution clock, and reading it through the runtime's poller parks
// only the goroutine: no thread is blocked, and no processor is handed
// off, which a blocking nanosleep would cost on every arrival.
type sleeper struct {
	f   *os.File // nil: fall back to nanosleep
	fd  uintptr
	buf [8]byte
}

const (
	clockMonotonic = 1
	tfdNonblock    = syscall.O_NONBLOCK
	tfdCloexec     = syscall.O_CLOEXEC
)

func newSleeper() *sleeper {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return &sleeper{}
	}
	// A non-blocking descriptor makes a File that reads through the poller.
	return &sleeper{f: os.NewFile(fd, "timerfd"), fd: fd}
}

// sleep blocks the calling goroutine for d.
func (s *sleeper) sleep(d time.Duration) {
	if d < minSleep {
		return
	}
	if s.f == nil {
		ts := syscall.NsecToTimespec(int64(d))
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		}
		return
	}
	spec := struct{ interval, value syscall.Timespec }{value: syscall.NsecToTimespec(int64(d))}
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, s.fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		time.Sleep(d)
		return
	}
	s.f.Read(s.buf[:])
}

func (s *sleeper) close() {
	if s.f != nil {
		s.f.Close()
	}
}
