package evloop

import (
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Event masks the syscall package lacks, as the uint32 an event's mask is.
const (
	EdgeTriggered uint32 = unix.EPOLLET
	// Exclusive: of the epoll instances waiting on one descriptor (a shared
	// listener), one is woken, not all.
	Exclusive uint32 = unix.EPOLLEXCLUSIVE
)

// PreciseSlack is the timer slack of a loop that wakes to the microsecond
// (LockThread): the kernel's default, 50µs, would make every timed wake-up
// late by up to that much.
const PreciseSlack = time.Nanosecond

// LockThread gives the calling goroutine its thread for the rest of its
// life: the goroutine never unlocks it, so the thread ends with it and
// nothing set here reaches another goroutine. With slack above zero the
// thread's timer slack is set to it; zero keeps the kernel's default.
func LockThread(slack time.Duration) {
	runtime.LockOSThread()
	if slack > 0 {
		syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_SET_TIMERSLACK, uintptr(slack.Nanoseconds()), 0)
	}
}

// Poller is a loop's epoll instance with an eventfd registered in it under
// the wake tag, so that another goroutine can end its wait (Wake). Only the
// loop's goroutine waits; Wake and Close may come from any.
type Poller struct {
	ep     int
	wakeFd int
	events []syscall.EpollEvent

	mu     sync.Mutex // Wake against Close: a closed descriptor's number may be reused
	closed bool
}

// wakeTag is the wake eventfd's tag: a slot no Table hands out.
var wakeTag = Tag{Slot: wakeSlot}

const wakeSlot = -1

// NewPoller creates an epoll instance and its wake-up eventfd, with room
// for maxEvents events a wait.
func NewPoller(maxEvents int) (*Poller, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakeFd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		syscall.Close(ep)
		return nil, err
	}
	p := &Poller{ep: ep, wakeFd: wakeFd, events: make([]syscall.EpollEvent, maxEvents)}
	if err := p.Add(wakeFd, syscall.EPOLLIN, wakeTag); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Add registers fd for the events of mask; each event carries tag.
func (p *Poller) Add(fd int, mask uint32, tag Tag) error {
	ev := tag.event(mask)
	return syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_ADD, fd, &ev)
}

// Mod changes fd's registration.
func (p *Poller) Mod(fd int, mask uint32, tag Tag) error {
	ev := tag.event(mask)
	return syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// Del takes fd out of the set. Closing fd does that too, unless the
// descriptor lives on elsewhere (a duplicate).
func (p *Poller) Del(fd int) error {
	return syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_DEL, fd, nil)
}

// Wait waits up to d (none: d <= 0) for events, to the nanosecond
// (epoll_pwait2: see HasPwait2), and returns them; a signal ends it early
// with none. The slice is the Poller's, valid until the next wait.
func (p *Poller) Wait(d time.Duration) []syscall.EpollEvent {
	n, errno := pwait2(p.ep, p.events, d)
	if errno != 0 {
		return nil
	}
	return p.events[:n]
}

// WaitMillis is Wait on every kernel (epoll_pwait): d is rounded up to
// whole milliseconds, so the wait never ends before it.
func (p *Poller) WaitMillis(d time.Duration) []syscall.EpollEvent {
	ms := uintptr(0)
	if d > 0 {
		ms = uintptr((d + time.Millisecond - 1) / time.Millisecond)
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(p.ep), uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), ms, 0, 0)
	if errno != 0 {
		return nil
	}
	return p.events[:n]
}

// pwait2 is epoll_pwait2 as a raw system call: the runtime sees a running
// goroutine, so no other thread is woken for its processor meanwhile.
func pwait2(ep int, events []syscall.EpollEvent, d time.Duration) (int, syscall.Errno) {
	var ts syscall.Timespec
	if d > 0 {
		ts = syscall.NsecToTimespec(int64(d))
	}
	n, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT2, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
	return int(n), errno
}

// Woken reports whether ev is a Wake's, and then takes the wake-up: the
// eventfd's counter is read, so that it stops firing. On the loop's
// goroutine.
func (p *Poller) Woken(ev *syscall.EpollEvent) bool {
	if ev.Fd != wakeSlot {
		return false
	}
	p.drain()
	return true
}

// drain reads the wake-up eventfd's counter, apart from Woken so that
// Woken's test, made for every event, is inlined.
//
//go:noinline
func (p *Poller) drain() {
	var b [8]byte
	syscall.Read(p.wakeFd, b[:])
}

// Wake ends the loop's current wait, or its next one; after Close it does
// nothing.
func (p *Poller) Wake() {
	one := uint64(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		syscall.Write(p.wakeFd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
}

// Close closes the epoll instance and the eventfd; closing again does
// nothing. The descriptors registered stay open: they are the loop's.
func (p *Poller) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	syscall.Close(p.ep)
	syscall.Close(p.wakeFd)
}

// Sleeper waits for a time, or until its Poller's Wake, and for nothing
// else: a loop that means to read its sockets only when it next acts
// sleeps here, then polls them with a zero Wait. The sockets' events are
// not lost meanwhile; that Wait returns them.
type Sleeper struct {
	ep     int
	events [1]syscall.EpollEvent
}

// NewSleeper creates a Sleeper on a second epoll instance holding p's
// wake-up eventfd alone.
func (p *Poller) NewSleeper() (*Sleeper, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	ev := wakeTag.event(syscall.EPOLLIN)
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, p.wakeFd, &ev); err != nil {
		syscall.Close(ep)
		return nil, err
	}
	return &Sleeper{ep: ep}, nil
}

// Sleep waits up to d, to the nanosecond (epoll_pwait2), ending early on a
// Wake (which it leaves for the Poller's next wait to take) or a signal.
func (s *Sleeper) Sleep(d time.Duration) {
	if d > 0 {
		pwait2(s.ep, s.events[:], d)
	}
}

// Close closes the Sleeper's epoll instance; closing again does nothing.
func (s *Sleeper) Close() {
	if s.ep >= 0 {
		syscall.Close(s.ep)
		s.ep = -1
	}
}

var pwait2Probe struct {
	once sync.Once
	ok   bool
}

// HasPwait2 reports whether the kernel has epoll_pwait2 (Linux 5.11), which
// Wait and Sleeper need.
func HasPwait2() bool {
	pwait2Probe.once.Do(func() {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		defer syscall.Close(ep)
		var ev [1]syscall.EpollEvent
		_, errno := pwait2(ep, ev[:], 0)
		pwait2Probe.ok = errno == 0
	})
	return pwait2Probe.ok
}
