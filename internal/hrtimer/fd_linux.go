package hrtimer

import (
	"os"
	"syscall"
	"unsafe"
)

// timerFD is a non-blocking timerfd on the monotonic clock, read through
// the runtime's poller.
type timerFD struct {
	f   *os.File
	fd  uintptr
	buf [8]byte
}

func (t *timerFD) open() bool {
	const clockMonotonic = 1
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return false
	}
	// A non-blocking descriptor makes a File that reads through the poller.
	t.f, t.fd = os.NewFile(fd, "hrtimer"), fd
	return true
}

// set arms the timer to fire once after ns nanoseconds; 0 disarms it.
func (t *timerFD) set(ns int64) bool {
	spec := struct{ interval, value syscall.Timespec }{value: syscall.NsecToTimespec(ns)}
	_, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, t.fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	return errno == 0
}

// wait parks the calling goroutine until the timer fires.
func (t *timerFD) wait() bool {
	_, err := t.f.Read(t.buf[:])
	return err == nil
}

// close closes the timerfd.
func (t *timerFD) close() { _ = t.f.Close() }
