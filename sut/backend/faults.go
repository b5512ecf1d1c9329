package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/ilities/ilities/internal/hrtimer"
	"github.com/ilities/ilities/internal/porthold"
)

// Faults are the switches the fault timeline flips on a running backend.
// The zero value is a healthy backend. What a client sees under each:
//
//   - Hang: new requests are accepted and read but never answered while it
//     is on (they wait without a worker); answers ready during it are held.
//     When it is lifted they go on as if they had just arrived.
//   - Slow: each service started while it is on lasts this much longer
//     (holding its worker, so a slow node's queue grows as it would).
//   - ErrorRate: that share of requests is answered ErrorStatus (500 or 503)
//     at once, without service.
//   - ResetRate: that share of responses is cut by a TCP RST after their
//     service, once the headers (with the full Content-Length) and half of
//     the body have been sent: the client reads part of a response, then
//     "connection reset by peer".
//   - TruncateRate: that share of responses declares the full
//     Content-Length but sends only half of the body, then closes.
//   - Workers: while above 0 and below Config.Workers, only this many
//     requests are served at once (degraded capacity); the queue is kept.
type Faults struct {
	Hang         bool
	Slow         Sampler
	ErrorRate    float64
	ErrorStatus  int
	ResetRate    float64
	TruncateRate float64
	Workers      int
}

// Faults returns the switches now on.
func (b *Backend) Faults() Faults {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.faults
}

// UpdateFaults changes the switches under the backend's lock, e.g.
// b.UpdateFaults(func(f *Faults) { f.Hang = true }). Faults compose: each
// kind touches its own field.
func (b *Backend) UpdateFaults(change func(*Faults)) {
	defer b.tell()
	b.mu.Lock()
	defer b.mu.Unlock()
	change(&b.faults)
	if b.faults.ErrorStatus == 0 {
		b.faults.ErrorStatus = http.StatusInternalServerError
	}
	switch {
	case b.faults.Hang && b.hangLift == nil:
		b.hangLift = make(chan struct{})
	case !b.faults.Hang && b.hangLift != nil:
		close(b.hangLift)
		b.hangLift = nil
	}
	b.fill() // a raised worker limit takes waiting requests at once
}

// Crash stops the backend as a killed process would: the listener closes
// (new connections are refused), every open connection is reset, requests
// in service and queued are dropped, and every session is lost. Restart
// serves it again on the same address. Crashing a crashed or closed backend
// does nothing.
func (b *Backend) Crash() {
	b.mu.Lock()
	if b.down || b.closed || b.srv == nil {
		b.mu.Unlock()
		return
	}
	now := b.now()
	b.down = true
	b.gen++
	b.counts.crashed++
	stop, endLife := b.stop, b.endLife
	for j := range b.inService {
		b.busyNanos += max(min(now, j.until)-max(j.start, b.statsSince), 0)
	}
	clear(b.inService)
	b.queue = nil
	b.busy = 0
	b.idle = nil
	b.sessions.clear()
	for c := range b.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST, not FIN
		}
	}
	srv, done := b.srv, b.serveDone
	b.mu.Unlock()
	// Connections go first, so that no handler woken by stop can still
	// write an answer on one.
	_ = srv.Close()
	<-done
	stop.Stop()
	endLife()
	// Down, the port stays this backend's: refused, as a crashed server's,
	// and given to no other server before Restart (the proxy would send
	// this node's requests there).
	hold, _ := porthold.Hold(b.addr)
	b.mu.Lock()
	if b.down && !b.closed {
		b.hold, hold = hold, nil
	}
	b.mu.Unlock()
	hold.Release()
	b.tell()
}

// Restart serves a crashed backend again on its address, with a fresh
// start-up delay. It fails when the backend is not crashed or the address
// cannot be bound again.
func (b *Backend) Restart() error {
	defer b.tell()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("backend " + b.cfg.Name + ": closed")
	}
	if !b.down {
		return fmt.Errorf("backend %s: not crashed", b.cfg.Name)
	}
	b.hold.Release()
	b.hold = nil
	if err := b.listen(b.addr); err != nil {
		return err
	}
	b.down = false
	b.stop = hrtimer.NewGroup()
	b.life, b.endLife = context.WithCancel(context.Background())
	b.readyAt = b.now() + int64(b.cfg.StartupDelay)
	return nil
}

// Down reports whether the backend is crashed.
func (b *Backend) Down() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.down
}
