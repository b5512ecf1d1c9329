// Package backend is the simulated application backend of the built-in
// system under test: an HTTP server that behaves as a queueing station with
// Workers service slots and a bounded FIFO waiting room (M/G/c/K).
//
// What a client sees, per request:
//
//   - The request body is read and discarded first.
//   - If a worker slot is free, the request takes it. Otherwise it waits in a
//     strict first-in-first-out queue; if the queue already holds Queue
//     requests, the answer is 503 Service Unavailable at once (a rejection).
//   - Holding a slot, the request is "served" for a service time drawn from
//     the configured distribution, then answered 200 OK with a short text body.
//   - A client that goes away while queued leaves the queue (counted as
//     abandoned). A client that goes away while served does not shorten the
//     service: the slot stays busy, as with a real server.
//   - Every response carries the header X-Ilities-Backend: <name>, so load
//     generators can attribute answers, including rejections, to a node.
//   - 200 responses carry Server-Timing: queue;dur=<ms>, service;dur=<ms>,
//     the time spent waiting for a slot and holding it.
//   - While the backend shuts down, waiting requests get 503.
//
// The station keeps its own clock. A request that finds a free slot starts at
// its arrival; a request handed a slot by the one before it starts at the
// instant that one's service ended, not when its goroutine happened to wake
// up. Timer lateness therefore delays individual responses slightly but never
// accumulates along a busy period: the queue evolves exactly as the
// c-server FIFO recursion says, for the arrival instants the server saw.
package backend

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// NodeHeader is the response header naming the backend that answered.
const NodeHeader = "X-Ilities-Backend"

// DefaultQueue is the waiting room a scenario gets when it does not set one.
const DefaultQueue = 1024

// Sampler draws one service time. scenario.Distribution satisfies it.
type Sampler interface {
	Sample(r *rand.Rand) time.Duration
}

// Config describes one backend.
type Config struct {
	// Name is the node name reported in NodeHeader.
	Name string
	// Workers is the number of requests served at once. Values below 1 mean 1.
	Workers int
	// Queue is how many requests may wait for a worker; 0 means none (a
	// request that finds every worker busy is rejected). Negative means 0.
	Queue int
	// ServiceTime is the service-time distribution; nil serves instantly.
	ServiceTime Sampler
	// Seed makes the sequence of service times reproducible: the k-th request
	// to obtain a worker gets the k-th draw.
	Seed int64
}

// Backend is a simulated backend. It is an http.Handler; Start also serves it
// on its own listener.
type Backend struct {
	cfg   Config
	epoch time.Time     // the station clock's origin (monotonic)
	done  chan struct{} // closed by Close

	mu         sync.Mutex
	closed     bool
	busy       int               // slots held
	queue      []*job            // FIFO of waiting requests
	inService  map[*job]struct{} // requests holding a slot
	rng        *rand.Rand
	statsSince int64 // station time of the last ResetStats
	busyNanos  int64 // slot-hold time of finished services since statsSince
	served     int64
	rejected   int64
	abandoned  int64

	handlers sync.WaitGroup // ServeHTTP calls in progress

	srv       *http.Server
	ln        net.Listener
	serveDone chan struct{}
	closeOnce sync.Once
	started   atomic.Bool
}

// job is one request's passage through the station. Times are station time.
type job struct {
	arrive, start, end int64
	granted            bool
	ready              chan struct{} // closed when a slot is handed over
}

// New returns a backend ready to serve (as a handler) with its statistics
// starting now.
func New(cfg Config) *Backend {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Queue < 0 {
		cfg.Queue = 0
	}
	return &Backend{
		cfg:       cfg,
		epoch:     time.Now(),
		done:      make(chan struct{}),
		inService: make(map[*job]struct{}, cfg.Workers),
		rng:       rand.New(rand.NewSource(cfg.Seed)),
	}
}

// Name returns the backend's node name.
func (b *Backend) Name() string { return b.cfg.Name }

// Config returns the backend's configuration (after defaults).
func (b *Backend) Config() Config { return b.cfg }

// now is the station clock: nanoseconds since epoch, on the monotonic clock.
func (b *Backend) now() int64 { return int64(time.Since(b.epoch)) }

var (
	errQueueFull = errors.New("queue full")
	errClosed    = errors.New("backend closed")
)

// ServeHTTP serves one request as described in the package documentation.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(NodeHeader, b.cfg.Name)
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	j := &job{arrive: b.now()}
	switch err := b.acquire(r, j); err {
	case nil:
	case errQueueFull:
		http.Error(w, "queue full", http.StatusServiceUnavailable)
		return
	case errClosed:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default: // the client went away while queued; nobody reads an answer
		return
	}
	defer b.handlers.Done()

	if d := time.Duration(j.end - b.now()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-b.done:
			t.Stop()
			b.release(j, false)
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
	}
	b.release(j, true)

	w.Header().Set("Server-Timing", "queue;dur="+ms(j.start-j.arrive)+", service;dur="+ms(j.end-j.start))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok "+b.cfg.Name+"\n")
}

func ms(ns int64) string { return strconv.FormatFloat(float64(ns)/1e6, 'f', 3, 64) }

// acquire obtains a worker slot for j, waiting in FIFO order if needed. On
// success the caller holds a slot and a handlers count, and must release.
func (b *Backend) acquire(r *http.Request, j *job) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	if b.busy < b.cfg.Workers {
		b.busy++
		b.begin(j, j.arrive)
		b.handlers.Add(1)
		b.mu.Unlock()
		return nil
	}
	if len(b.queue) >= b.cfg.Queue {
		b.rejected++
		b.mu.Unlock()
		return errQueueFull
	}
	j.ready = make(chan struct{})
	b.queue = append(b.queue, j)
	b.handlers.Add(1)
	b.mu.Unlock()

	var err error
	select {
	case <-j.ready:
		return nil
	case <-r.Context().Done():
		err = r.Context().Err()
	case <-b.done:
		err = errClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.handlers.Done()
	if j.granted {
		// The slot arrived together with the cancellation: pass it on
		// unused, as if its service had taken no time.
		delete(b.inService, j)
		b.handoff(j.start)
	} else {
		for i, q := range b.queue {
			if q == j {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
	}
	if err != errClosed {
		b.abandoned++
	}
	return err
}

// begin starts j's service at station time start. Called with b.mu held;
// drawing here, in slot order, makes the service sequence reproducible.
func (b *Backend) begin(j *job, start int64) {
	var service time.Duration
	if b.cfg.ServiceTime != nil {
		service = max(b.cfg.ServiceTime.Sample(b.rng), 0)
	}
	j.start = start
	j.end = start + int64(service)
	j.granted = true
	b.inService[j] = struct{}{}
}

// release ends j's service and hands its slot on.
func (b *Backend) release(j *job, completed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.inService, j)
	end := j.end
	if !completed {
		end = min(max(b.now(), j.start), j.end)
	}
	b.busyNanos += max(end-max(j.start, b.statsSince), 0)
	if completed {
		b.served++
	}
	b.handoff(end)
}

// handoff gives a freed slot, free since station time at, to the head of the
// queue, or marks it idle. Called with b.mu held.
func (b *Backend) handoff(at int64) {
	if len(b.queue) == 0 || b.closed {
		b.busy--
		return
	}
	next := b.queue[0]
	b.queue[0] = nil
	b.queue = b.queue[1:]
	b.begin(next, max(next.arrive, at))
	close(next.ready)
}

// Stats is a snapshot of a backend's counters.
type Stats struct {
	Name    string
	Workers int
	// Served counts completed services; Rejected counts 503s for a full
	// queue; Abandoned counts requests whose client left while queued.
	Served, Rejected, Abandoned int64
	// InService and Queued are the requests holding a slot and waiting, now.
	InService, Queued int
	// BusySeconds is the slot-hold time of all services since the statistics
	// started, including the part so far of services in progress.
	BusySeconds float64
	// ElapsedSeconds is the wall time since the statistics started.
	ElapsedSeconds float64
	// Utilisation is BusySeconds / (Workers × ElapsedSeconds).
	Utilisation float64
}

// Stats returns the counters since New or the last ResetStats. Call it as
// often as needed (e.g. once per second for per-window utilisation); it costs
// O(Workers).
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	busy := b.busyNanos
	for j := range b.inService {
		busy += max(min(now, j.end)-max(j.start, b.statsSince), 0)
	}
	s := Stats{
		Name:           b.cfg.Name,
		Workers:        b.cfg.Workers,
		Served:         b.served,
		Rejected:       b.rejected,
		Abandoned:      b.abandoned,
		InService:      len(b.inService),
		Queued:         len(b.queue),
		BusySeconds:    float64(busy) / 1e9,
		ElapsedSeconds: float64(now-b.statsSince) / 1e9,
	}
	if s.ElapsedSeconds > 0 {
		s.Utilisation = s.BusySeconds / (float64(s.Workers) * s.ElapsedSeconds)
	}
	return s
}

// ResetStats zeroes the counters and restarts the utilisation clock. Services
// in progress count only their time after the reset.
func (b *Backend) ResetStats() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.statsSince = b.now()
	b.busyNanos, b.served, b.rejected, b.abandoned = 0, 0, 0, 0
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves the backend there
// until Close. A backend is started at most once.
func (b *Backend) Start(addr string) error {
	if !b.started.CompareAndSwap(false, true) {
		return fmt.Errorf("backend %s: already started", b.cfg.Name)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("backend %s: %w", b.cfg.Name, err)
	}
	b.ln = ln
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	b.serveDone = make(chan struct{})
	go func() {
		defer close(b.serveDone)
		_ = b.srv.Serve(ln)
	}()
	return nil
}

// Addr is the listen address ("127.0.0.1:41234"), or "" before Start.
func (b *Backend) Addr() string {
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

// URL is the base URL ("http://127.0.0.1:41234"), or "" before Start.
func (b *Backend) URL() string {
	if b.ln == nil {
		return ""
	}
	return "http://" + b.Addr()
}

// Close stops the backend: it closes the listener and every connection,
// answers waiting requests 503, and returns when no request handler of this
// backend is running any more. Calling it again does nothing.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.done)
		if b.srv != nil {
			err = b.srv.Close()
			<-b.serveDone
		}
		b.handlers.Wait()
	})
	return err
}
