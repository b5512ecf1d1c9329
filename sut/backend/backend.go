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
//   - During its start-up delay (cold start, also after a restart) it answers
//     503 at once, with the header X-Ilities-Starting: 1.
//   - With sessions on, a request without the session cookie (SessionCookie)
//     gets a new session in Set-Cookie; a request whose session the backend
//     does not know (another node's, or one lost in a crash) is answered 409
//     with X-Ilities-Session: lost, and given a new session.
//   - With a response size distribution, the 200 body is "ok <name>\n"
//     padded to the drawn size; otherwise it is just that line.
//   - A WebSocket handshake (Upgrade: websocket) to any path is accepted
//     and each message echoed back, outside the station (websocket.go).
//   - Faults change this while they are on; see Faults, Crash and Restart.
//   - With Calls (a tier above others), the request then asks the tiers
//     below, in order, still holding its worker (calls.go); a call that
//     fails makes the answer 502, naming the pool where the failure started
//     in X-Ilities-Failed-Tier.
//
// The station keeps its own clock. A request that finds a free slot starts at
// its arrival; a request handed a slot by the one before it starts at the
// instant that one's service ended, not when its goroutine happened to wake
// up. Timer lateness therefore delays individual responses slightly but never
// accumulates along a busy period: the queue evolves exactly as the
// c-server FIFO recursion says, for the arrival instants the server saw.
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	randv2 "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/hrtimer"
	"github.com/ilities/ilities/internal/porthold"
)

// DefaultQueue is the waiting room a scenario gets when it does not set one.
const DefaultQueue = 1024

// Sampler draws one service time. scenario.Distribution satisfies it.
type Sampler interface {
	Sample(r *rand.Rand) time.Duration
}

// SizeSampler draws one response body size in bytes.
// scenario.SizeDistribution satisfies it.
type SizeSampler interface {
	SampleSize(r *rand.Rand) int64
}

// Config describes one backend.
type Config struct {
	// Name is the node name reported in headers.Node.
	Name string
	// Workers is the number of requests served at once. Values below 1 mean 1.
	Workers int
	// Queue is how many requests may wait for a worker; 0 means none (a
	// request that finds every worker busy is rejected). Negative means 0.
	Queue int
	// ServiceTime is the service-time distribution; nil serves instantly.
	ServiceTime Sampler
	// Seed makes the sequence of service times reproducible: the k-th request
	// to obtain a worker gets the k-th draw. Response sizes and fault
	// decisions draw from their own streams derived from it.
	Seed int64
	// CPUBurn makes a worker compute for its whole service time instead of
	// sleeping, so utilisation is physical CPU use. The service time stays
	// the drawn wall-clock duration, so the station's queueing is unchanged;
	// on an overcommitted machine responses may leave late.
	CPUBurn bool
	// ResponseSize draws the 200 body's size; nil sends "ok <name>\n".
	ResponseSize SizeSampler
	// StartupDelay is the cold start: from Start (and each Restart) the
	// backend answers 503 for this long.
	StartupDelay time.Duration
	// Sessions turns on server-side sessions (see the package documentation).
	Sessions bool
	// Control serves the backend's statistics as JSON at ControlPath + "stats"
	// (GET), for a backend running as its own process.
	Control bool
	// Pool names the pool the backend belongs to: its own failed answers
	// count under it in Stats.Failures.
	Pool string
	// Calls are what each request asks of the tiers below once its own
	// service ended, in order, holding its worker (calls.go).
	Calls []Call
	// Cache makes the backend a cache: a request is a hit with probability
	// HitRatio, answered after its own service alone; a miss makes the Calls.
	Cache    bool
	HitRatio float64
	// Watch, when set, is told each time the backend goes down (a crash, a
	// hang) and comes back, in order, outside the backend's lock: a
	// database's primary is watched this way.
	Watch func(up bool)
}

// Backend is a simulated backend. It is an http.Handler; Start also serves it
// on its own listener.
type Backend struct {
	cfg   Config
	epoch time.Time // the station clock's origin (monotonic)

	mu         sync.Mutex
	closed     bool           // Close was called
	down       bool           // crashed and not restarted
	stop       *hrtimer.Group // stopped by Close and by Crash: ends the services in progress
	gen        int            // incremented by each Crash
	readyAt    int64          // station time the start-up delay ends
	busy       int            // slots held
	idle       []int64        // when each idle slot freed (station time), unordered
	queue      []*job         // FIFO of waiting requests
	inService  map[*job]struct{}
	rng        *rand.Rand      // service times
	sizeRNG    *rand.Rand      // response sizes
	faultRNG   *rand.Rand      // fault decisions and added latency
	callRNG    *rand.Rand      // each request's own stream for its cache and call draws
	life       context.Context // ends with stop: the calls in progress end with it
	endLife    context.CancelFunc
	faults     Faults
	hangLift   chan struct{} // non-nil while hanging; closed when lifted
	sessions   sessionStore
	statsSince int64 // station time of the last ResetStats
	busyNanos  int64 // slot-hold time of finished services since statsSince
	counts     counts
	sums       sums
	// callFailures counts the answers failed by a call, by the pool where
	// the failure started.
	callFailures map[string]int64

	// watchMu orders the Watch calls; toldUp is the state last told.
	watchMu sync.Mutex
	toldUp  bool

	handlers sync.WaitGroup // ServeHTTP calls in progress

	// trace, when set (by tests), sees every completed service's station
	// times (its end: of the slot's hold, its calls included), under b.mu.
	trace func(arrive, start, end int64)

	// The listener side; replaced by each Restart. hold keeps the port
	// while crashed.
	hold      *porthold.Holder
	addr      string
	srv       *server
	ln        net.Listener
	serveDone chan struct{}
	conns     map[net.Conn]struct{}
	closeOnce sync.Once
	started   atomic.Bool
}

// counts are a backend's event counters, zeroed by ResetStats.
type counts struct {
	served, rejected, abandoned                 int64
	starting, injectedErrors, resets, truncated int64
	sessionsLost, sessionsCreated, crashed      int64
	hits, misses                                int64
}

// sums are the station times of the requests served since ResetStats.
type sums struct {
	queue, service, calls int64
}

// job is one request's passage through the station. Times are station time.
type job struct {
	arrive, start, end int64
	// until is when the job stops holding its slot: its end, or when its
	// calls ended (unknown, and far ahead, until they have).
	until int64
	// free is when the slot this job holds is handed on: its until, unless
	// it swapped with a job that ended earlier (see release).
	free    int64
	gen     int
	granted bool
	ready   chan struct{} // closed when a slot is handed over
	// calling is set when the job makes the calls after its service; hit
	// for a cache hit. draws is the job's own stream for its call draws.
	calling, hit bool
	draws        randv2.PCG
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
	b := &Backend{
		cfg:       cfg,
		epoch:     time.Now(),
		stop:      hrtimer.NewGroup(),
		inService: make(map[*job]struct{}, min(cfg.Workers, 1024)), // grows with use, not with the count asked
		rng:       rand.New(rand.NewSource(cfg.Seed)),
		sizeRNG:   rand.New(rand.NewSource(cfg.Seed ^ 0x5e55a9e)),
		faultRNG:  rand.New(rand.NewSource(cfg.Seed ^ 0xfa017)),
		callRNG:   rand.New(rand.NewSource(cfg.Seed ^ 0xca115)),
		conns:     map[net.Conn]struct{}{},
		toldUp:    true,
	}
	b.life, b.endLife = context.WithCancel(context.Background())
	b.sessions.init(cfg.Name)
	b.readyAt = int64(cfg.StartupDelay)
	return b
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
	w.Header().Set(headers.Node, b.cfg.Name)
	if b.cfg.Control && b.serveControl(w, r) {
		return
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	arrive := b.now()
	b.mu.Lock()
	sleeps, life, f := b.stop, b.life, b.faults
	stop := sleeps.Done()
	starting := arrive < b.readyAt && !b.closed
	if starting {
		b.counts.starting++
	}
	hang := b.hangLift
	b.mu.Unlock()
	if starting {
		w.Header().Set(headers.Starting, "1")
		b.fail(w, "starting up", http.StatusServiceUnavailable)
		return
	}
	if hang != nil && !b.await(r, hang, stop) {
		return
	}
	if isWebSocket(r) {
		b.echo(w, r, life)
		return
	}
	if f.ErrorRate > 0 && b.draw(f.ErrorRate) {
		b.count(func(c *counts) { c.injectedErrors++ })
		b.fail(w, "injected error", f.ErrorStatus)
		return
	}
	if b.cfg.Sessions && !b.checkSession(w, r) {
		return
	}

	j := &job{}
	switch err := b.acquire(r, j, stop); err {
	case nil:
	case errQueueFull:
		b.setLoadHeader(w)
		b.fail(w, "queue full", http.StatusServiceUnavailable)
		return
	case errClosed:
		b.fail(w, "shutting down", http.StatusServiceUnavailable)
		return
	default: // the client went away while queued; nobody reads an answer
		return
	}
	defer b.handlers.Done()

	if !b.serve(j, sleeps) {
		b.release(j, false)
		b.fail(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	failedTier, called := b.call(j, life)
	b.release(j, true)
	if !called {
		if life.Err() != nil {
			b.fail(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set(headers.FailedTier, failedTier)
		b.fail(w, "a call to "+failedTier+" failed", http.StatusBadGateway)
		return
	}
	b.setLoadHeader(w)

	b.mu.Lock()
	f, hang = b.faults, b.hangLift
	b.mu.Unlock()
	if hang != nil && !b.await(r, hang, stop) {
		return
	}
	switch {
	case f.ResetRate > 0 && b.draw(f.ResetRate):
		b.count(func(c *counts) { c.resets++ })
		b.writeBody(w, j, reset)
		return
	case f.TruncateRate > 0 && b.draw(f.TruncateRate):
		b.count(func(c *counts) { c.truncated++ })
		b.writeBody(w, j, truncate)
		return
	}
	b.writeBody(w, j, whole)
}

// serve holds j's slot until its service ends, sleeping or computing. It
// returns false when the backend stopped (crash or close) first.
func (b *Backend) serve(j *job, sleeps *hrtimer.Group) bool {
	d := time.Duration(j.end - b.now())
	if d <= 0 {
		return true
	}
	if b.cfg.CPUBurn {
		return burn(func() bool { return b.now() >= j.end }, sleeps.Done())
	}
	// A precise timer: the runtime's wakes an idle process up to a
	// millisecond late, which would add to every response. The group's
	// wakes this goroutine itself, and a crash ends it.
	return sleeps.Sleep(d)
}

// await waits for a hang to be lifted; false when the client or the
// backend went away first.
func (b *Backend) await(r *http.Request, lift chan struct{}, stop <-chan struct{}) bool {
	select {
	case <-lift:
		return true
	case <-r.Context().Done():
	case <-stop:
	}
	return false
}

func (b *Backend) draw(p float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.faultRNG.Float64() < p
}

func (b *Backend) count(f func(*counts)) {
	b.mu.Lock()
	f(&b.counts)
	b.mu.Unlock()
}

// fail answers an error status with the backend's load header.
func (b *Backend) fail(w http.ResponseWriter, msg string, code int) {
	b.setLoadHeader(w)
	http.Error(w, msg, code)
}

func ms(ns int64) string { return strconv.FormatFloat(float64(ns)/1e6, 'f', 3, 64) }

// limit is the number of workers in use: Workers, or fewer while degraded.
// Called with b.mu held.
func (b *Backend) limit() int {
	if k := b.faults.Workers; k > 0 && k < b.cfg.Workers {
		return k
	}
	return b.cfg.Workers
}

// acquire obtains a worker slot for j, waiting in FIFO order if needed. On
// success the caller holds a slot and a handlers count, and must release.
func (b *Backend) acquire(r *http.Request, j *job, stop <-chan struct{}) error {
	queued, err := b.enter(j, -1)
	if err != nil || !queued {
		return err
	}
	return b.wait(r.Context(), j, stop)
}

// enter puts j into the station at station time arrive (now, when arrive is
// negative): it takes a free slot, or joins the queue (queued is true; the
// caller then waits), or is rejected. Arrivals keep the order of the calls.
// On success the caller holds a handlers count.
func (b *Backend) enter(j *job, arrive int64) (queued bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.down {
		return false, errClosed
	}
	// Arrival is stamped under the lock, so that arrival order is queue
	// order even when goroutines are descheduled in between.
	if arrive < 0 {
		arrive = b.now()
	}
	j.arrive = arrive
	j.gen = b.gen
	if b.busy < b.limit() && len(b.queue) == 0 {
		b.busy++
		// The slot that freed first may still be held by a service whose
		// goroutine has not noticed its end: take that free time, and leave
		// it the idle slot's, as release does.
		at := b.takeIdle()
		if first := b.endedBefore(at); first != nil {
			first.free, at = at, first.free
		}
		b.begin(j, max(j.arrive, at))
		b.handlers.Add(1)
		return false, nil
	}
	if len(b.queue) >= b.cfg.Queue {
		b.counts.rejected++
		return false, errQueueFull
	}
	j.ready = make(chan struct{})
	b.queue = append(b.queue, j)
	b.handlers.Add(1)
	return true, nil
}

// wait waits for a queued j's slot; on an error (the caller went away, the
// backend stopped) it leaves the station and drops its handlers count.
func (b *Backend) wait(ctx context.Context, j *job, stop <-chan struct{}) error {
	var err error
	select {
	case <-j.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = errClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.handlers.Done()
	if j.gen != b.gen {
		return errClosed // the crash already emptied the station
	}
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
		b.counts.abandoned++
	}
	return err
}

// visit is one request served in-process, arriving at station time arrive
// (planned, not read from the host's clock): the queueing tests drive the
// station this way, so that its queue evolves on the arrival instants they
// planned whatever the host's scheduling. It enters the station before it
// returns, so arrivals keep the order of the calls; finish waits for the
// slot, holds it for the service and the calls, releases it, and returns
// the job's station times: its start and the end of its hold.
func (b *Backend) visit(arrive int64) (finish func() (start, end int64, err error)) {
	b.mu.Lock()
	sleeps, life := b.stop, b.life
	b.mu.Unlock()
	stop := sleeps.Done()
	j := &job{}
	queued, err := b.enter(j, arrive)
	return func() (int64, int64, error) {
		if err != nil {
			return 0, 0, err
		}
		if queued {
			if err := b.wait(context.Background(), j, stop); err != nil {
				return 0, 0, err
			}
		}
		defer b.handlers.Done()
		if !b.serve(j, sleeps) {
			b.release(j, false)
			return 0, 0, errClosed
		}
		failedTier, called := b.call(j, life)
		b.release(j, true)
		if !called {
			return j.start, j.until, fmt.Errorf("a call to %s failed", failedTier)
		}
		return j.start, j.until, nil
	}
}

// begin starts j's service at station time start. Called with b.mu held;
// drawing here, in slot order, makes the service sequence reproducible.
// A slow fault's added latency comes from its own stream, so the base
// sequence stays the same with or without it.
func (b *Backend) begin(j *job, start int64) {
	var service time.Duration
	if b.cfg.ServiceTime != nil {
		service = max(b.cfg.ServiceTime.Sample(b.rng), 0)
	}
	if b.faults.Slow != nil {
		service += max(b.faults.Slow.Sample(b.faultRNG), 0)
	}
	j.start = start
	j.end = start + int64(service)
	j.until = j.end
	j.granted = true
	b.planCalls(j)
	j.free = j.until
	b.inService[j] = struct{}{}
}

// release ends j's service and hands its slot on.
func (b *Backend) release(j *job, completed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if j.gen != b.gen {
		return // a crash ended it and accounted for its time
	}
	delete(b.inService, j)
	end := j.until
	if !completed {
		end = min(max(b.now(), j.start), j.until)
	}
	b.busyNanos += max(end-max(j.start, b.statsSince), 0)
	at := j.free
	if completed {
		b.counts.served++
		b.sums.queue += j.start - j.arrive
		b.sums.service += j.end - j.start
		b.sums.calls += j.until - j.end
		switch {
		case !b.cfg.Cache:
		case j.hit:
			b.counts.hits++
		default:
			b.counts.misses++
		}
		if b.trace != nil {
			b.trace(j.arrive, j.start, j.until)
		}
		// Goroutines may notice their ends out of order (a computing worker
		// descheduled, a late timer). Whoever releases first hands on the
		// slot that freed first; the job that held it will hand on this one.
		if first := b.endedBefore(at); first != nil {
			first.free, at = at, first.free
		}
	} else {
		at = min(end, j.free)
	}
	b.handoff(at)
}

// endedBefore returns the job in service whose slot freed first, before
// station time at and by now, or nil. Called with b.mu held.
func (b *Backend) endedBefore(at int64) *job {
	now := b.now()
	var first *job
	for m := range b.inService {
		if m.free < at && m.free <= now && (first == nil || m.free < first.free) {
			first = m
		}
	}
	return first
}

// handoff gives a freed slot, free since station time at, to the head of the
// queue, or marks it idle. Called with b.mu held.
func (b *Backend) handoff(at int64) {
	if len(b.queue) == 0 || b.closed || b.down || b.busy > b.limit() {
		b.busy--
		b.idle = append(b.idle, at)
		return
	}
	b.grant(at)
}

// grant hands a slot to the head of the queue. Called with b.mu held.
func (b *Backend) grant(at int64) {
	next := b.queue[0]
	b.queue[0] = nil
	b.queue = b.queue[1:]
	b.begin(next, max(next.arrive, at))
	close(next.ready)
}

// takeIdle returns the free time of the idle slot that freed first (and
// forgets it): a request that finds a slot idle starts no earlier than the
// slot's previous service ended, even if its goroutine noticed that end
// late. A slot never used (since New or the last crash) has been free all
// along: 0. Called with b.mu held, after busy counts the slot being taken.
func (b *Backend) takeIdle() int64 {
	if len(b.idle) == 0 || b.busy-1+len(b.idle) < b.cfg.Workers {
		return 0
	}
	k := 0
	for i, t := range b.idle {
		if t < b.idle[k] {
			k = i
		}
	}
	t := b.idle[k]
	b.idle[k] = b.idle[len(b.idle)-1]
	b.idle = b.idle[:len(b.idle)-1]
	return t
}

// fill hands free slots to waiting requests, after the limit was raised.
// Called with b.mu held.
func (b *Backend) fill() {
	now := b.now()
	for len(b.queue) > 0 && b.busy < b.limit() && !b.closed && !b.down {
		b.busy++
		b.grant(max(now, b.takeIdle()))
	}
}

// Stats is a snapshot of a backend's counters.
type Stats struct {
	Name    string `json:"name"`
	Workers int    `json:"workers"`
	// Served counts completed services; Rejected counts 503s for a full
	// queue; Abandoned counts requests whose client left while queued.
	Served    int64 `json:"served"`
	Rejected  int64 `json:"rejected"`
	Abandoned int64 `json:"abandoned"`
	// Starting counts 503s during the start-up delay.
	Starting int64 `json:"starting"`
	// InjectedErrors, Resets and Truncated count the answers changed by the
	// errors, reset and truncate faults.
	InjectedErrors int64 `json:"injected_errors"`
	Resets         int64 `json:"resets"`
	Truncated      int64 `json:"truncated"`
	// SessionsCreated and SessionsLost count new sessions and 409 answers to
	// unknown sessions.
	SessionsCreated int64 `json:"sessions_created"`
	SessionsLost    int64 `json:"sessions_lost"`
	// Crashes counts crashes; Down is true while crashed.
	Crashes int64 `json:"crashes"`
	Down    bool  `json:"down"`
	// InService and Queued are the requests holding a slot and waiting, now.
	InService int `json:"in_service"`
	Queued    int `json:"queued"`
	// BusySeconds is the slot-hold time of all services since the statistics
	// started, including the part so far of services in progress.
	BusySeconds float64 `json:"busy_seconds"`
	// ElapsedSeconds is the wall time since the statistics started.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Utilisation is BusySeconds / (Workers × ElapsedSeconds), with the
	// configured Workers (a degraded node's lost capacity shows as less
	// busy time, not as a smaller denominator).
	Utilisation float64 `json:"utilisation"`
	// QueueSeconds, ServiceSeconds and CallSeconds sum, over the requests
	// served, the waits for a worker, the own services and the time in
	// calls to the tiers below.
	QueueSeconds   float64 `json:"queue_seconds"`
	ServiceSeconds float64 `json:"service_seconds"`
	CallSeconds    float64 `json:"call_seconds,omitempty"`
	// Hits and Misses are a cache's.
	Hits   int64 `json:"hits,omitempty"`
	Misses int64 `json:"misses,omitempty"`
	// Failures counts the failed answers by the pool where the failure
	// started: Config.Pool for the backend's own (a full queue, the
	// start-up delay, injected errors, resets, truncations), the pool a
	// failed call named otherwise.
	Failures map[string]int64 `json:"failures,omitempty"`
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
		busy += max(min(now, j.until)-max(j.start, b.statsSince), 0)
	}
	c := b.counts
	s := Stats{
		Name:            b.cfg.Name,
		Workers:         b.cfg.Workers,
		Served:          c.served,
		Rejected:        c.rejected,
		Abandoned:       c.abandoned,
		Starting:        c.starting,
		InjectedErrors:  c.injectedErrors,
		Resets:          c.resets,
		Truncated:       c.truncated,
		SessionsCreated: c.sessionsCreated,
		SessionsLost:    c.sessionsLost,
		Crashes:         c.crashed,
		Down:            b.down,
		InService:       len(b.inService),
		Queued:          len(b.queue),
		BusySeconds:     float64(busy) / 1e9,
		ElapsedSeconds:  float64(now-b.statsSince) / 1e9,
		QueueSeconds:    float64(b.sums.queue) / 1e9,
		ServiceSeconds:  float64(b.sums.service) / 1e9,
		CallSeconds:     float64(b.sums.calls) / 1e9,
		Hits:            c.hits,
		Misses:          c.misses,
		Failures:        b.failures(),
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
	b.busyNanos = 0
	b.counts = counts{}
	b.sums = sums{}
	b.callFailures = nil
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves the backend there
// until Close. A backend is started at most once; Restart serves it again
// after a Crash. The start-up delay counts from here.
func (b *Backend) Start(addr string) error {
	if !b.started.CompareAndSwap(false, true) {
		return fmt.Errorf("backend %s: already started", b.cfg.Name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readyAt = b.now() + int64(b.cfg.StartupDelay)
	return b.listen(addr)
}

// listen opens the listener and serves on it. Called with b.mu held.
func (b *Backend) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("backend %s: %w", b.cfg.Name, err)
	}
	b.ln, b.addr = ln, ln.Addr().String()
	srv := newServer(b, b.track)
	b.srv = srv
	done := make(chan struct{})
	b.serveDone = done
	go func() {
		defer crash.Guard()
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return nil
}

// track keeps the open connections, so a crash can reset them.
func (b *Backend) track(c net.Conn, state http.ConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch state {
	case http.StateNew:
		b.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(b.conns, c)
	}
}

// Addr is the listen address ("127.0.0.1:41234"), or "" before Start.
func (b *Backend) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// URL is the base URL ("http://127.0.0.1:41234"), or "" before Start.
func (b *Backend) URL() string {
	if a := b.Addr(); a != "" {
		return "http://" + a
	}
	return ""
}

// Close stops the backend: it closes the listener and every connection,
// answers waiting requests 503, and returns when no request handler of this
// backend is running any more. Calling it again does nothing.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		if !b.down {
			b.stop.Stop()
			b.endLife()
		}
		if b.hangLift != nil {
			close(b.hangLift)
			b.hangLift = nil
		}
		b.hold.Release()
		b.hold = nil
		srv, done := b.srv, b.serveDone
		b.mu.Unlock()
		if srv != nil {
			err = srv.Close()
			<-done
		}
		b.handlers.Wait()
	})
	return err
}
