package evloop

import (
	"syscall"
	"testing"
	"time"
)

// A Wake from another goroutine ends the loop's wait, however it waits,
// and the wake-up is taken once: the next look finds nothing.
func TestPollerWake(t *testing.T) {
	cases := []struct {
		name string
		wait func(p *Poller, s *Sleeper) []syscall.EpollEvent
	}{
		{"Wait", func(p *Poller, _ *Sleeper) []syscall.EpollEvent { return p.Wait(time.Minute) }},
		{"WaitMillis", func(p *Poller, _ *Sleeper) []syscall.EpollEvent { return p.WaitMillis(time.Minute) }},
		// Sleep leaves the wake-up for the Poller: the look after it sees it.
		{"Sleep, then a look", func(p *Poller, s *Sleeper) []syscall.EpollEvent { s.Sleep(time.Minute); return p.Wait(0) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPoller(4)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			s, err := p.NewSleeper()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			go func() {
				time.Sleep(20 * time.Millisecond)
				p.Wake()
			}()
			start := time.Now()
			woken := false
			// A signal may end a wait early, with nothing: wait again.
			for !woken && time.Since(start) < 30*time.Second {
				for _, ev := range tc.wait(p, s) {
					woken = woken || p.Woken(&ev)
				}
			}
			if !woken {
				t.Fatalf("no wake-up in %v", time.Since(start))
			}
			for _, ev := range p.Wait(0) {
				if p.Woken(&ev) {
					t.Fatal("the wake-up fired again after it was taken")
				}
			}
		})
	}
}

// After Close, Wake does nothing: it writes to no descriptor that may have
// taken the eventfd's number.
func TestPollerWakeAfterClose(t *testing.T) {
	p, err := NewPoller(1)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	r, w, err := pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(r)
	defer syscall.Close(w)
	p.Wake()
	p.Close()
	var b [8]byte
	if n, errno := Read(r, b[:]); errno != syscall.EAGAIN {
		t.Fatalf("the pipe that took the closed descriptors' numbers got %d bytes (%v)", n, errno)
	}
}

// pipe opens a non-blocking pipe: the lowest free descriptors, those a
// closed Poller just gave back.
func pipe() (r, w int, err error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return -1, -1, err
	}
	return fds[0], fds[1], nil
}

// An event carries the tag its descriptor was registered (or last
// modified) with, and the mask it asked for.
func TestPollerTags(t *testing.T) {
	srv := newPeerServer(t)
	p, err := NewPoller(4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fd := srv.dial(t)
	defer syscall.Close(fd)
	first, second := Tag{Slot: 3, Gen: 7}, Tag{Slot: 3, Gen: 8}
	if err := p.Add(fd, syscall.EPOLLIN, first); err != nil {
		t.Fatal(err)
	}
	for _, ev := range p.Wait(0) {
		t.Fatalf("an event %+v before any byte arrived", ev)
	}
	srv.peer(0).Write([]byte("x"))
	ev := waitFor(t, p, first)
	if ev.Events&syscall.EPOLLIN == 0 {
		t.Errorf("mask %#x, want EPOLLIN", ev.Events)
	}
	if err := p.Mod(fd, syscall.EPOLLIN|syscall.EPOLLOUT, second); err != nil {
		t.Fatal(err)
	}
	ev = waitFor(t, p, second)
	if ev.Events&syscall.EPOLLOUT == 0 {
		t.Errorf("mask %#x after Mod, want EPOLLOUT too", ev.Events)
	}
	if err := p.Del(fd); err != nil {
		t.Fatal(err)
	}
	for _, ev := range p.Wait(0) {
		t.Fatalf("an event %+v after Del", ev)
	}
}

// The probe agrees with the kernel's answer.
func TestHasPwait2(t *testing.T) {
	p, err := NewPoller(1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, errno := pwait2(p.ep, p.events, 0)
	if got := HasPwait2(); got != (errno == 0) {
		t.Fatalf("HasPwait2 %v, epoll_pwait2 answers %v", got, errno)
	}
}
