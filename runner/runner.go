package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/hrtimer"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// ErrNoResponse is returned, with the result, when requests were sent but
// not a single HTTP response came back (e.g. the target refused every
// connection): the run could not be carried out.
var ErrNoResponse = errors.New("runner: not a single HTTP response was received from the target")

// Options are the run's wiring, beside the scenario.
type Options struct {
	// URL is the base URL the load goes to (the built-in proxy's URL or the
	// scenario's target.url); each request's path is appended to it.
	URL string
	// URLs, when set, are several addresses of the same target (replicas):
	// the load is spread over them in turn and fails over from one that
	// cannot be connected to. URL is used when URLs is empty.
	URLs []string
	// Sites, when set, is a service over several sites behind DNS: each
	// request goes to the site its DNS client's answer names (sites.go);
	// URL and URLs are then unused.
	Sites *Sites
	// NodeStats, when set, is called once at the end of the run to read the
	// nodes' own figures (utilisation, weight).
	NodeStats func() []NodeReport
	// Progress, when non-nil, receives progress: one plain line every 5 s,
	// or, with Live, one line redrawn every second (for a terminal).
	Progress io.Writer
	Live     bool
	// ActiveFaults, when set, names the faults in effect, for the progress line.
	ActiveFaults func() []string
	// Segment runs a deterministic slice of every workload (see Segment).
	Segment Segment
	// SUTWakeups is how many times a request waits for a CPU inside a
	// built-in SUT, in this process or its own (report.Apparatus.SUTWakeups);
	// 0 for an external target.
	SUTWakeups int
	// SUTLoopWakeups is how many of those are an event loop's.
	SUTLoopWakeups int
	// Started, when set, is called with the run's time origin the moment
	// the clock starts (the fault timeline and the node sampling count from it).
	Started func(start time.Time)
	// StartAt, when set, is the wall-clock instant the run's clock starts
	// at (ParseStartAt): Run prepares everything, then waits for it
	// (interrupted by ctx: then Run returns an error and no result); an
	// instant more than StartTolerance past is an error. The segments of
	// one run started at one instant share one timeline.
	StartAt time.Time
	// Observer, when set, follows the run's arrivals as they are recorded
	// (live metrics).
	Observer Observer
	// Version is the tool's version, reported in the result ("ilities
	// <Version>") and in each request's default User-Agent
	// ("ilities/<Version>"); "dev" when empty.
	Version string

	// forceStd sends plain HTTP/1.1 through net/http rather than the lean
	// client (tests compare the two).
	forceStd bool
	// forceWorkers runs open-loop workloads on workers and closed-loop
	// users on goroutines even where the event loop could (tests compare
	// the two).
	forceWorkers bool
	// loopCounts, when set, is told what each event loop did as it ends
	// (tests bound its wake-ups and system calls).
	loopCounts func(loopCounts)
}

// loopCounts is what one event loop did: its timed waits (wake-ups), the
// waits that asked epoll about its sockets, the responses it read without
// asking, and the wake-ups that found an answer still on its way (the
// target's pace, not the loop's: each then asks epoll).
type loopCounts struct {
	wakeups, polls, directReads, unanswered int
}

// version is Version, or "dev" when it is not set.
func (o Options) version() string {
	if o.Version == "" {
		return "dev"
	}
	return o.Version
}

// targetURLs is every site's addresses, URLs, or URL alone.
func (o Options) targetURLs() []string {
	if o.Sites != nil {
		return o.Sites.flatten()
	}
	if len(o.URLs) > 0 {
		return o.URLs
	}
	return []string{o.URL}
}

// NodeReport is a node's own account of itself at the end of a run.
type NodeReport struct {
	Name        string
	Weight      float64
	Utilisation float64
}

const (
	harvestEvery  = time.Second
	progressEvery = 5 // harvests
	// abortGrace is how long an interrupted run waits for requests in
	// flight before abandoning them.
	abortGrace = time.Second
)

// Run drives the scenario's workloads (open-loop arrivals and closed-loop
// virtual users) against the target for the scenario's duration, all on
// one timeline, and returns what was measured. The scenario must have its
// defaults applied. Cancelling ctx stops the run at once: the result is
// then marked incomplete and holds what was measured until the stop.
// Failed requests are data in the result, not errors; the error is non-nil
// only when the run could not be set up, or with ErrNoResponse.
func Run(ctx context.Context, sc *scenario.Scenario, opts Options) (*report.Result, error) {
	if sc == nil || len(sc.Workload) == 0 {
		return nil, errors.New("runner: the scenario has no workload")
	}
	urls := opts.targetURLs()
	for _, u := range urls {
		base, err := url.Parse(u)
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, fmt.Errorf("runner: target URL %q: want http://host[:port][/prefix] or https://...", u)
		}
	}
	if !opts.Segment.Whole() && (opts.Segment.K < 1 || opts.Segment.K > opts.Segment.N) {
		return nil, fmt.Errorf("runner: segment %d/%d: want 1 <= K <= N", opts.Segment.K, opts.Segment.N)
	}
	duration := sc.Duration.D()

	workloads := make([]*workloadRun, len(sc.Workload))
	var settle time.Duration
	for i := range sc.Workload {
		w, err := newWorkloadRun(sc, i, urls, duration, opts)
		if err != nil {
			for _, prev := range workloads[:i] {
				prev.client.close()
			}
			return nil, err
		}
		defer w.client.close()
		workloads[i] = w
		settle = max(settle, w.maxLateness+w.timeout)
	}
	shareDataSets(workloads)
	warmupWindows := int(math.Ceil(sc.Warmup.D().Seconds()))
	requests := make([]int, len(workloads))
	for i, w := range workloads {
		requests[i] = w.scopes
	}
	col := newCollector(requests, settle+2*harvestEvery, warmupWindows)
	if opts.Observer != nil {
		col.observer = opts.Observer
		opts.Observer.Begin(workloadNames(sc))
	}
	cpu0 := processCPU()

	e := &engine{duration: duration, stop: make(chan struct{}), seed: sc.Seed, segment: opts.Segment, loopCounts: opts.loopCounts}
	if opts.Sites != nil {
		e.sites = newSiteRoutes(opts.Sites)
	}

	// Workers and users first, so that the clock starts with every slot ready.
	var workers, schedulers sync.WaitGroup
	schedRecs := make([]*recorder, len(workloads))
	type userStart struct {
		w     *workloadRun
		u     int
		spans []Span
		rec   *recorder
	}
	var users []userStart
	loops := 0
	for _, w := range workloads {
		schedRecs[w.index] = col.newRecorder(w.index)
		if !opts.forceWorkers && e.sites == nil { // the loop has one target
			w.loop = newEventLoop(e, w, schedRecs[w.index])
		}
		if w.loop != nil {
			loops++
		}
		if w.closed {
			for u := range w.maxUsers {
				if !opts.Segment.Has(u) {
					continue
				}
				spans := UserSpans(w.users, u)
				switch {
				case len(spans) == 0:
				case w.loop != nil:
					w.loop.addUser(u, spans)
				default:
					users = append(users, userStart{w, u, spans, col.newRecorder(w.index)})
				}
			}
			continue
		}
		if w.loop != nil {
			continue
		}
		n := len(w.client.targets)
		for i := range w.maxInflight {
			rec := col.newRecorder(w.index)
			st := newUserState(i%n, false)
			if w.data != nil {
				st.data = w.data.newUser(0, templateRNG(e.seed, w.index, i))
			}
			workers.Go(func() {
				defer crash.Guard()
				e.work(w, rec, st)
			})
		}
	}
	if loops > 0 {
		defer holdProcs(loops)()
	}
	meter := newApparatusMeter()
	defer meter.close()
	for _, w := range workloads {
		// The first open loop samples on its own timed wake-ups (a closed
		// loop's are its responses).
		if w.loop != nil && !w.closed {
			meter.feed = newHiccupFeed()
			w.loop.sampleHiccups(meter.feed)
			break
		}
	}
	// Everything is ready: only the clock's start remains. A wait that
	// fails (interrupted, or the instant passed) stops the run before it
	// starts, down the usual path, and Run returns its error.
	runCtx := ctx
	if opts.Progress != nil && !opts.StartAt.IsZero() {
		fmt.Fprintf(opts.Progress, "waiting for the start time %s (in %s)\n",
			opts.StartAt.UTC().Format(time.RFC3339Nano), time.Until(opts.StartAt).Round(time.Millisecond))
	}
	startErr := waitForStart(ctx, opts.StartAt)
	if startErr != nil {
		stopped, cancel := context.WithCancel(ctx)
		cancel()
		runCtx = stopped
	}
	e.start = time.Now()
	meter.begin(e.start)
	if startErr != nil {
		close(e.stop) // at 0: no user, scheduler or loop sends anything
	} else if opts.Started != nil {
		opts.Started(e.start)
	}
	for _, us := range users {
		workers.Go(func() {
			defer crash.Guard()
			e.user(us.w, us.u, us.spans, us.rec)
		})
	}

	progress := newProgress(opts, duration, sc.Warmup.D())
	quit, collected := make(chan struct{}), make(chan struct{})
	go func() {
		defer crash.Guard()
		defer close(collected)
		tick := time.NewTicker(harvestEvery)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				col.harvest()
				now := e.since()
				col.closeWindows(now)
				progress.tick(col, now)
			}
		}
	}()

	for _, w := range workloads {
		switch {
		case w.loop != nil:
			workers.Go(func() {
				defer crash.Guard()
				w.loop.run()
			})
		case !w.closed:
			schedulers.Go(func() {
				defer crash.Guard()
				e.schedule(w, schedRecs[w.index])
			})
		}
	}

	stopped, aborted := false, false
	end := time.NewTimer(duration)
	select {
	case <-end.C:
	case <-runCtx.Done():
		end.Stop()
		stopped = true
		if startErr == nil {
			e.stopAt = min(e.since(), duration)
			close(e.stop)
		}
	}
	schedulers.Wait()

	// Requests in flight are awaited (each is bounded by its timeout);
	// once the caller gives up, only briefly.
	inflight := make(chan struct{})
	go func() {
		defer crash.Guard()
		workers.Wait()
		close(inflight)
	}()
	select {
	case <-inflight:
	case <-runCtx.Done():
		select {
		case <-inflight:
		case <-time.After(abortGrace):
			aborted = true
			for _, w := range workloads {
				w.client.abort()
				if w.loop != nil {
					w.loop.abort()
				}
			}
			<-inflight
		}
	}
	meter.finish()
	close(quit)
	<-collected
	col.harvest()
	col.closeWindows(-1)
	progress.done()
	if startErr != nil {
		return nil, startErr
	}

	measured := duration
	if stopped {
		measured = e.stopAt
		// An arrival handed over in the instant the stop was being recorded
		// still belongs to the measured span.
		for _, w := range workloads {
			if w.scheduledAny && w.lastIntended >= measured {
				measured = w.lastIntended + 1
			}
		}
	}
	apparatus, err := meter.result(int(math.Ceil(measured.Seconds())))
	if err != nil {
		return nil, err
	}
	apparatus.SUTWakeups, apparatus.SUTLoopWakeups = opts.SUTWakeups, opts.SUTLoopWakeups
	res, err := buildResult(sc, opts, col, workloads, e.start, duration, measured, stopped || aborted, apparatus)
	if err != nil {
		return nil, err
	}
	res.Generator.Engines = engines(workloads)
	res.Generator.CPUSeconds = processCPU() - cpu0
	if sent := col.sent(); sent > 0 && res.Generator.CPUSeconds > 0 {
		res.Generator.CPUPerRequestUS = res.Generator.CPUSeconds / float64(sent) * 1e6
	}
	sent := res.Totals.Succeeded + res.Totals.Failed - res.Errors[ClassAborted]
	if col.responses == 0 && sent > 0 {
		return res, noResponse(res)
	}
	return res, nil
}

// The engines a workload runs on, as the result names them
// (report.Generator.Engines).
const (
	EngineEventLoop  = "event-loop"
	EngineGoroutines = "goroutines"
)

// engines names what each workload ran on.
func engines(workloads []*workloadRun) map[string]string {
	out := make(map[string]string, len(workloads))
	for _, w := range workloads {
		out[w.name] = EngineGoroutines
		if w.loop != nil {
			out[w.name] = EngineEventLoop
		}
	}
	return out
}

// engine is the shared clock and stop signal of one run.
type engine struct {
	start    time.Time
	duration time.Duration
	seed     int64
	segment  Segment
	// stop is closed when the run is interrupted; stopAt, written before,
	// is the instant of the stop: arrivals due from then on are not scheduled.
	stop   chan struct{}
	stopAt time.Duration
	// sites, when set, routes each request to its DNS client's site.
	sites *siteRoutes
	// loopCounts is Options.loopCounts.
	loopCounts func(loopCounts)
}

func (e *engine) since() time.Duration { return time.Since(e.start) }

// arrival is one scheduled request handed from a scheduler to a worker.
type arrival struct {
	intended time.Duration
	req      int
	// held: it found every in-flight slot busy when due and waited for one.
	held bool
	// client is its DNS client, with sites.
	client int32
}

// workloadRun is the runtime form of one workload.
type workloadRun struct {
	index       int
	name        string
	model       string
	timeout     time.Duration
	maxLateness time.Duration
	maxInflight int
	maxConns    int // per target

	client *client
	// loop, when set, drives the workload instead of its scheduler and
	// workers (open loop) or its users' goroutines (closed loop).
	loop *eventLoop
	// requests is the mix (picked by weight) or, for a session, the steps in order.
	requests []*request
	// scopes: the requests' and then their WebSocket messages' (websocket.go).
	scopes  int
	mix     *Mix
	session bool
	// data, when set, renders templates, draws rows and runs response
	// checks (data.go); nil for requests sent as built.
	data *workloadData

	// Open loop.
	pacer Pacer
	// clients draws each arrival's DNS client, with sites.
	clients  *rand.Rand
	nClients int
	// work is unbuffered: a hand-over succeeds only when a worker is idle,
	// so at most maxInflight requests are ever in flight.
	work chan arrival

	// Closed loop.
	closed   bool
	users    []scenario.Segment // user count over the run
	maxUsers int
	think    scenario.Distribution

	// Written by the scheduler, read by Run after it returned.
	lastIntended time.Duration
	scheduledAny bool
}

func newWorkloadRun(sc *scenario.Scenario, i int, urls []string, duration time.Duration, opts Options) (*workloadRun, error) {
	spec := sc.Workload[i]
	w := &workloadRun{
		index:       i,
		name:        spec.Name,
		model:       spec.Model,
		timeout:     spec.Timeout.D(),
		maxLateness: spec.MaxLateness.D(),
		maxInflight: spec.MaxInflight,
		work:        make(chan arrival),
		closed:      spec.Closed(),
		think:       spec.ThinkTime,
	}
	switch spec.Model {
	case "", scenario.ModelOpen:
		pacer, err := NewPacer(spec, duration, sc.Seed, i)
		if err != nil {
			return nil, err
		}
		w.pacer = pacer
		if opts.Sites != nil {
			w.clients, w.nClients = arrivalClients(opts.Sites, sc.Seed, i), opts.Sites.Clients
		}
	case scenario.ModelClosed:
		w.users = spec.UserProfile(duration)
		w.maxUsers = spec.MaxUsers(duration)
		w.maxLateness = 0
		if w.maxUsers < 1 {
			return nil, fmt.Errorf("runner: workload %q: a closed workload needs at least one user", spec.Name)
		}
	default:
		return nil, fmt.Errorf("runner: workload %q: unknown model %q (want open or closed)", spec.Name, spec.Model)
	}
	// Guards only: the scenario package owns the defaults.
	if w.timeout <= 0 {
		w.timeout = 10 * time.Second
	}
	if !w.closed && w.maxLateness <= 0 {
		w.maxLateness = w.timeout
	}
	if w.maxInflight <= 0 {
		w.maxInflight = 1000
	}
	_, w.session = mixRequests(spec)
	var err error
	if w.requests, err = newRequests(sc, spec, opts.version()); err != nil {
		return nil, err
	}
	if w.mix = NewMix(sc, i); w.mix.total() == 0 {
		return nil, fmt.Errorf("runner: workload %q: the request weights add up to 0", spec.Name)
	}
	conns := spec.Client.MaxConnections
	if conns <= 0 {
		conns = w.maxInflight
		if w.closed {
			conns = w.maxUsers
		}
	}
	c, err := newClient(urls, clientConfig{spec: spec.Client, timeout: w.timeout, connections: conns, forceStd: opts.forceStd})
	if err != nil {
		return nil, err
	}
	for _, r := range w.requests {
		if err := r.prepare(c.targets); err != nil {
			c.close()
			return nil, fmt.Errorf("runner: workload %q: %w", spec.Name, err)
		}
	}
	w.scopes = webSocketScopes(w.requests, c.targets)
	if w.scopes > len(w.requests) {
		c.ws = newWSClient(spec.Client)
	}
	w.client = c
	w.maxConns = conns
	w.data = newWorkloadData(sc, spec, w.requests)
	return w, nil
}

// pick chooses the next request of the mix by weight (Mix.Next).
func (w *workloadRun) pick() int { return w.mix.Next() }

// drawClient draws the next arrival's DNS client, with sites.
func (w *workloadRun) drawClient() int32 {
	if w.clients == nil {
		return 0
	}
	return int32(w.clients.Intn(w.nClients))
}

// newRequests builds what a workload sends (mixRequests), in order.
func newRequests(sc *scenario.Scenario, spec scenario.Workload, version string) ([]*request, error) {
	reqs, _ := mixRequests(spec)
	out := make([]*request, len(reqs))
	for i, r := range reqs {
		t, err := newRequest(sc, r, spec.Expect, "ilities/"+version)
		if err != nil {
			return nil, fmt.Errorf("runner: workload %q: %w", spec.Name, err)
		}
		out[i] = t
	}
	return out, nil
}

// schedule is the workload's clock: it takes arrivals from the pacer,
// waits for each one's intended time and hands it to an idle worker. An
// arrival that finds no idle worker waits, in order, until it can be sent
// or until it is too late: max_lateness after its intended time, or the end
// of the run (with the 1 ms lateness tolerance); then it is dropped. In a
// segment, every arrival is drawn (with its request) and only the
// segment's own are scheduled.
func (e *engine) schedule(w *workloadRun, rec *recorder) {
	defer close(w.work)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	fine := newSleeper()
	defer fine.close()
	var lead hrtimer.Lead // see eventLoop.lead
	stopped := false
	miss := func(a arrival, o outcome) {
		rec.add(sample{intended: a.intended, req: uint16(a.req), outcome: o, held: a.held})
	}
	var rate quantum // the dispatch quantum for the arrival rate
	// heldUntil is when the scheduler last stopped waiting for a worker: an
	// arrival due before then waited behind one that found every slot busy.
	var heldUntil time.Duration
	for index := 0; ; index++ {
		at, ok := w.pacer.Next()
		if !ok {
			return
		}
		req := w.pick()
		client := w.drawClient()
		if !e.segment.Has(index) {
			continue
		}
		if !stopped {
			select {
			case <-e.stop:
				stopped = true
			default:
			}
		}
		if !stopped && !e.sleepUntil(at, rate.next(at), timer, fine, &lead) {
			stopped = true
		}
		if stopped {
			// Arrivals due before the stop and never sent are cut; the
			// ones after it are not part of the run.
			if at >= e.stopAt {
				return
			}
			w.lastIntended, w.scheduledAny = at, true
			miss(arrival{intended: at, req: req}, outCut)
			continue
		}
		w.lastIntended, w.scheduledAny = at, true
		a := arrival{intended: at, req: req, held: at < heldUntil, client: client}
		sendBy, missed := w.sendDeadline(at, e.duration)
		wait := sendBy - e.since()
		if wait < 0 {
			miss(a, missed)
			continue
		}
		select {
		case w.work <- a:
			continue
		default:
		}
		// Every worker is busy with a request not yet answered: the
		// workload's in-flight bound, not the scheduler, holds a.
		a.held = true
		timer.Reset(wait)
		select {
		case w.work <- a:
			timer.Stop()
		case <-timer.C:
			miss(a, missed)
		case <-e.stop:
			timer.Stop()
			stopped = true
			miss(a, outCut)
		}
		heldUntil = e.since()
	}
}

// endGrace is how long past the run's end an arrival due before it may
// still be sent (at most its max_lateness): a generator a little behind
// when the run ends (a busy machine) finishes its schedule rather than
// cutting it.
const endGrace = time.Second

// sendDeadline is the last instant an arrival due at at may be sent, and
// what becomes of it if it is not: dropped when its max_lateness runs out
// first (the generator or the target could not keep up), cut when the end
// of the run and its grace come first.
func (w *workloadRun) sendDeadline(at, duration time.Duration) (time.Duration, outcome) {
	return sendDeadline(at, w.maxLateness, duration)
}

func sendDeadline(at, maxLateness, duration time.Duration) (time.Duration, outcome) {
	late, end := at+maxLateness, duration+min(maxLateness, endGrace)
	if late <= end {
		return late, outDropped
	}
	return end, outCut
}

// SendDeadline is the last instant an open-loop arrival due at at, of a
// workload with the given max_lateness in a run of the given duration, may
// be sent, and its fate if it is not (FateDropped or FateCut), as Run
// decides them for an arrival that waits for a free in-flight slot.
func SendDeadline(at, maxLateness, duration time.Duration) (time.Duration, Fate) {
	by, missed := sendDeadline(at, maxLateness, duration)
	if missed == outCut {
		return by, FateCut
	}
	return by, FateDropped
}

// fineWait is the last stretch before an arrival that is slept precisely
// rather than on a runtime timer (see sleeper).
const fineWait = 2 * time.Millisecond

// minSleep is the shortest precise sleep worth a system call: below the
// kernel's timer slack.
const minSleep = 20 * time.Microsecond

// sleepUntil waits until offset at of the run, and up to the dispatch
// quantum q after it (quantum.go); it returns false when the run was
// stopped first. With no quantum (an arrival's own wake-up), the precise
// sleep is armed early by lead and the rest spun, as the event loop's.
func (e *engine) sleepUntil(at, q time.Duration, timer *time.Timer, fine *sleeper, lead *hrtimer.Lead) bool {
	if coarse := at - e.since() - fineWait; coarse > 0 {
		timer.Reset(coarse)
		select {
		case <-timer.C:
		case <-e.stop:
			timer.Stop()
			return false
		}
	}
	if q > 0 {
		if d := at - e.since(); d > 0 {
			fine.sleep(d + q)
		}
		return true
	}
	for {
		now := e.since()
		d := at - now
		if d <= 0 {
			return true
		}
		arm := lead.Arm(d)
		if arm < minSleep { // within the lead (and a sleep's least): spin
			hrtimer.SpinUntil(at, e.since)
			return true
		}
		fine.sleep(arm)
		if took := e.since() - now; took >= arm {
			lead.Overslept(arm, took)
		}
	}
}

// work is one open-loop worker: one request in flight at a time.
func (e *engine) work(w *workloadRun, rec *recorder, st *userState) {
	for a := range w.work {
		if st.data != nil && !w.data.nextArrival(st.data, w.index) {
			rec.add(sample{intended: a.intended, req: uint16(a.req), outcome: outExhausted})
			continue
		}
		sent := e.since()
		if r := w.requests[a.req]; r.ws != nil {
			e.webSocket(w, r, st, rec, wsStart{intended: a.intended, sent: sent, req: a.req, held: a.held, stopAt: e.duration})
			continue
		}
		var ex exchange
		if e.sites != nil {
			ex = e.siteDo(w, w.requests[a.req], st, int(a.client), a.intended, sent)
		} else {
			ex = w.client.do(w.requests[a.req], st)
		}
		s := ex.sample(a.intended, sent, e.since(), a.req)
		s.held = a.held
		rec.add(s)
	}
}

// buildResult turns the collector's figures into the result.
func buildResult(sc *scenario.Scenario, opts Options, col *collector, workloads []*workloadRun,
	started time.Time, duration, measured time.Duration, incomplete bool, apparatus *report.Apparatus) (*report.Result, error) {
	measuredS := measured.Seconds()
	// The figures cover the run after the warm-up.
	warmupS := min(float64(col.warmupWindows), measuredS)
	figuresS := measuredS - warmupS
	windowOK := sc.WindowOK.Fraction()
	res := &report.Result{
		SchemaVersion: report.SchemaVersion,
		Tool:          "ilities " + opts.version(),
		Scenario:      sc.Name,
		Seed:          sc.Seed,
		Target:        strings.Join(opts.targetURLs(), " "),
		Segment:       opts.Segment.String(),
		WindowOK:      windowOK,
		WarmupS:       warmupS,
		Started:       started,
		DurationS:     duration.Seconds(),
		MeasuredS:     measuredS,
		Incomplete:    incomplete,
		Workloads:     []report.WorkloadResult{},
		Nodes:         []report.Node{},
		Faults:        []report.Fault{},
		Windows:       []report.Window{},
	}
	if sc.SUT != nil {
		res.Strategy = sc.SUT.Proxy.Strategy
	}
	// The finished windows were kept out of memory during the run; the
	// scopes' per-second counts come from them.
	wins, err := col.takeWindows()
	if err != nil {
		return nil, err
	}
	col.restoreScopeWindows(wins)
	if res.Stats, err = col.run.stats(figuresS, windowOK); err != nil {
		return nil, err
	}
	if col.warmupWindows > 0 {
		warm, err := col.warm.stats(warmupS, windowOK)
		if err != nil {
			return nil, err
		}
		res.Warmup = &warm
	}
	for i, w := range workloads {
		acc := &col.workloads[i]
		st, err := acc.stats(figuresS, windowOK)
		if err != nil {
			return nil, err
		}
		res.Workloads = append(res.Workloads, report.WorkloadResult{Name: w.name, Model: w.model, Stats: st, WindowCounts: acc.windowCounts()})
	}
	if res.Requests, err = col.requestResults(workloads, figuresS, windowOK); err != nil {
		return nil, err
	}

	nWindows := max(int(math.Ceil(measuredS)), len(wins))
	for i := range nWindows {
		win := report.Window{T: i, Warmup: i < col.warmupWindows}
		if i < len(wins) {
			acc := &wins[i]
			win.Succeeded = acc.Counts[outSuccess]
			win.Dropped = acc.Counts[outDropped]
			win.CutAtEnd = acc.Counts[outCut]
			win.Exhausted = acc.Counts[outExhausted]
			for o := outRefused; o < numOutcomes; o++ {
				if n := acc.Counts[o]; n > 0 {
					win.Failed += n
					if win.Errors == nil {
						win.Errors = map[string]int64{}
					}
					win.Errors[o.class()] = n
				}
			}
			win.Scheduled = win.Succeeded + win.Failed + win.Dropped + win.CutAtEnd + win.Exhausted
			win.LatencyMS = acc.Latency
			win.Histogram = acc.Histogram
			win.Nodes = acc.Nodes
			win.NodeFailed = acc.NodeFailed
		}
		if span := min(1, measuredS-float64(i)); span > 0 {
			win.ThroughputRPS = float64(win.Succeeded) / span
		}
		res.Windows = append(res.Windows, win)
	}

	res.Nodes, res.Fairness = nodesOf(col.nodes, opts.NodeStats)
	if apparatus == nil {
		apparatus = &report.Apparatus{CPUPressure: -1, Steal: -1}
	}
	applySendLag(apparatus, wins, len(res.Windows))
	lag := report.PercentilesOf(col.lag)
	apparatus.Assess(lag)
	res.Apparatus = apparatus
	res.Generator = generatorOf(col.allTotals(), lag, apparatus, inflightHeld(workloads, col.heldBy))
	if res.Generator.SendLagHistogram, err = report.EncodeHistogram(col.lag); err != nil {
		return nil, fmt.Errorf("runner: encoding a histogram: %w", err)
	}
	return res, nil
}

// applySendLag gives the apparatus one window per window of the result,
// each with the send lag of the arrivals intended in it.
func applySendLag(a *report.Apparatus, wins []finishedWindow, n int) {
	for len(a.Windows) < n {
		a.Windows = append(a.Windows, report.ApparatusWindow{T: len(a.Windows), CPUPressure: -1, Steal: -1})
	}
	for i := range min(len(wins), len(a.Windows)) {
		w, lag := &a.Windows[i], wins[i].SendLag
		w.SendLagP50, w.SendLagP99, w.SendLagMax, w.Late = lag.P50, lag.P99, lag.Max, wins[i].Late
	}
}

func (a *scopeAcc) stats(measuredS, windowOK float64) (report.Stats, error) {
	if a.lat == nil { // a request never sent
		a.lat, a.svc = report.NewHistogram(), report.NewHistogram()
	}
	s := report.Stats{
		Totals:           a.totals(),
		Errors:           a.errors(),
		LatencyMS:        report.PercentilesOf(a.lat),
		ServiceLatencyMS: report.PercentilesOf(a.svc),
		StatusCodes:      a.statusCodes(),
		ErrorSamples:     a.samples.report(),
	}
	var err error
	if s.Histograms.Latency, err = report.EncodeHistogram(a.lat); err != nil {
		return s, fmt.Errorf("runner: encoding a histogram: %w", err)
	}
	if s.Histograms.ServiceLatency, err = report.EncodeHistogram(a.svc); err != nil {
		return s, fmt.Errorf("runner: encoding a histogram: %w", err)
	}
	if a.sojourn != nil {
		if s.Station, err = report.StationOf(a.sojourn, a.service, float64(a.outsideMaxUS)/1000, &s.Histograms); err != nil {
			return s, fmt.Errorf("runner: encoding a histogram: %w", err)
		}
	}
	s.Derive(measuredS)
	ws := make([]report.Window, len(a.windows))
	for i, w := range a.windows {
		ws[i] = report.Window{T: i, Scheduled: w.scheduled, Succeeded: w.succeeded}
	}
	s.Availability.Time = report.AvailabilityByTime(ws, windowOK)
	return s, nil
}

// nodesOf lists the nodes seen in responses and the nodes that reported
// themselves, by name, with Jain's fairness over share / weight.
func nodesOf(counted map[string]int64, stats func() []NodeReport) ([]report.Node, float64) {
	byName := map[string]*report.Node{}
	var total int64
	for name, n := range counted {
		byName[name] = &report.Node{Name: name, Requests: n}
		total += n
	}
	if stats != nil {
		for _, r := range stats() {
			n := byName[r.Name]
			if n == nil {
				n = &report.Node{Name: r.Name}
				byName[r.Name] = n
			}
			n.Weight, n.Utilisation = r.Weight, r.Utilisation
		}
	}
	nodes := make([]report.Node, 0, len(byName))
	for _, n := range byName {
		nodes = append(nodes, *n)
	}
	return nodes, report.FinishNodes(nodes, total)
}

// mostlyLate is the share of arrivals sent more than lateAfter late above
// which a generator whose lateness the machine's hiccups do not explain is
// saturated.
const mostlyLate = 0.5

// mostlyCut is the share of the scheduled arrivals cut at the end above
// which the run is saturated whatever delayed them: a handful cut in the
// last moment is the end's doing, but a target offered visibly less than
// the scenario asks proves nothing by passing.
const mostlyCut = 0.01

// generatorOf tells whether the generator itself kept up (docs/verdicts.md,
// "Generator saturation"). It saturated when arrivals were dropped (not
// sent within max_lateness), or when most were sent late and the
// machine's own delays (the apparatus's hiccups) do not explain it: then
// the generator's own work could not keep pace. Lateness that the hiccups
// explain is the machine delaying the tool: it is reported, and verdicts
// take it into account as the apparatus's delay. Arrivals cut at the end
// never make a run saturated.
//
// held words the workloads' in-flight bounds (inflightHeld), "" when no
// arrival waited for a slot. When the arrivals sent late, dropped or cut
// mostly waited for one, the reason says so instead of blaming the
// generator's speed: the scenario's max_inflight bounded the load offered,
// which is saturation all the same (the target was not offered what the
// scenario asks), but not a slow generator. A simulated generator has no
// delay of its own, so that is all its saturation can be.
func generatorOf(t report.Totals, lag report.Percentiles, a *report.Apparatus, held string) report.Generator {
	g := report.Generator{SendLagMS: lag}
	sent := t.Succeeded + t.Failed
	var reasons []string
	lateShare := float64(t.Late) / float64(max(sent, 1))
	explained := a != nil && a.HiccupMS.Count > 0 && 2*a.HiccupMS.P50 >= lag.P50
	mostlyCutOff := float64(t.CutAtEnd) > mostlyCut*float64(t.Scheduled)
	g.InflightBound = held != "" && t.Held > 0 && 2*t.Held >= t.Late+t.Dropped+t.CutAtEnd
	if !g.InflightBound {
		held = ""
	}
	switch {
	case t.Dropped > 0:
		g.Saturated = true
		why := "no free in-flight slot within max_lateness of their intended time; raise max_inflight or lower the rate"
		if held != "" {
			why = "not sent within max_lateness of their intended time: " + held
		}
		reasons = append(reasons, fmt.Sprintf("%d of %d arrivals dropped (%.2f%%): %s",
			t.Dropped, t.Scheduled, 100*float64(t.Dropped)/float64(max(t.Scheduled, 1)), why))
	case mostlyCutOff:
		g.Saturated = true
		why := starvedClause(a)
		if held != "" {
			why = "; " + held
		}
		reasons = append(reasons, fmt.Sprintf("%d of %d arrivals (%.1f%%) were never sent: still unsent when the run's end grace ran out (send lag p99 %s%s): the target was offered less than the scenario asks%s",
			t.CutAtEnd, t.Scheduled, 100*float64(t.CutAtEnd)/float64(max(t.Scheduled, 1)), ms(lag.P99), hiccupClause(a), why))
	case lateShare > mostlyLate && held != "":
		g.Saturated = !explained
		why := held
		if explained {
			why += "; the machine's hiccups are as long, so the verdicts count the wait as the apparatus's delay"
		}
		reasons = append(reasons, fmt.Sprintf("%d of %d arrivals (%.0f%%) sent more than %v late (send lag p50 %s, p99 %s)%s: %s",
			t.Late, sent, 100*lateShare, lateAfter, ms(lag.P50), ms(lag.P99), hiccupClause(a), why))
	case lateShare > mostlyLate && !explained:
		g.Saturated = true
		advice := "lower the rate or split the load into segments"
		if starved := starvedClause(a); starved != "" {
			advice = "run it where the machine is not this busy" + starved
		}
		reasons = append(reasons, fmt.Sprintf("%d of %d arrivals (%.0f%%) sent more than %v late (send lag p50 %s, p99 %s) while the hiccups do not explain it%s: the generator could not keep up; %s",
			t.Late, sent, 100*lateShare, lateAfter, ms(lag.P50), ms(lag.P99), hiccupClause(a), advice))
	case lateShare > mostlyLate:
		reasons = append(reasons, fmt.Sprintf("%d of %d arrivals (%.0f%%) sent more than %v late (send lag p50 %s, p99 %s): the machine delayed the tool itself%s; the verdicts count this as the apparatus's delay",
			t.Late, sent, 100*lateShare, lateAfter, ms(lag.P50), ms(lag.P99), hiccupClause(a)))
	case t.Late > 0:
		why := ""
		if held != "" {
			why = "; " + held
		}
		reasons = append(reasons, fmt.Sprintf("%d of %d arrivals sent more than %v late (p99 send lag %s); their latency includes the wait%s",
			t.Late, t.Scheduled, lateAfter, ms(lag.P99), why))
	}
	if t.CutAtEnd > 0 && !mostlyCutOff {
		reasons = append(reasons, fmt.Sprintf("%d arrivals due before the end were still unsent when its grace (min(max_lateness, %v)) ran out, or at the stop, and were cut (not offered to the target, not counted against it)",
			t.CutAtEnd, endGrace))
	}
	g.Reason = strings.Join(reasons, "; ")
	return g
}

// inflightHeld words what held the arrivals that waited for an in-flight
// slot, "" when none did: every one of their workload's max_inflight slots
// busy with a request the target had not answered, so that rate ×
// latency had reached the bound. heldBy counts each workload's held
// arrivals. Fewer connections than slots are named too: the slots' requests
// then also wait for one of them, and raising max_inflight alone only
// moves that queue.
func inflightHeld(workloads []*workloadRun, heldBy []int64) string {
	var bound []*workloadRun
	for i, w := range workloads {
		if !w.closed && i < len(heldBy) && heldBy[i] > 0 {
			bound = append(bound, w)
		}
	}
	if len(bound) == 0 {
		return ""
	}
	raise := "max_inflight"
	var each []string
	for _, w := range bound {
		figure := fmt.Sprintf("%s %d", w.name, w.maxInflight)
		if w.maxConns < w.maxInflight {
			raise = "max_inflight and max_connections"
			figure += fmt.Sprintf(" on %d connections", w.maxConns)
		}
		each = append(each, figure)
	}
	advice := fmt.Sprintf("the workload's bound, not the generator's speed; raise %s to offer more", raise)
	if len(bound) > 1 {
		return fmt.Sprintf("arrivals waited for an in-flight slot of their workload, all held by requests not yet answered (rate × latency reached max_inflight: %s): %s",
			strings.Join(each, ", "), advice)
	}
	w, conns := bound[0], ""
	if w.maxConns < w.maxInflight {
		conns = fmt.Sprintf(" (on max_connections' %d connections)", w.maxConns)
	}
	slots := fmt.Sprintf("one of max_inflight's %d slots%s, all", w.maxInflight, conns)
	if w.maxInflight == 1 {
		slots = fmt.Sprintf("max_inflight's one slot%s,", conns)
	}
	return fmt.Sprintf("arrivals waited for %s held by requests not yet answered (rate × latency reached %d): %s",
		slots, w.maxInflight, advice)
}

// starvedClause says, when so, that the machine rather than the rate held
// the generator back: the process ran on less than half a processor while
// some task waited for a CPU most of the time (Linux CPU pressure). A
// starved thread that runs full time is late by a fair share, not by a
// wake-up, so the hiccups, short sleeps, can miss it: beside 160 spinning
// threads a 1,000/s run used 1.7% of a processor, send lag p50 3.6 s,
// hiccup p50 2 ms, CPU pressure 99.7%.
func starvedClause(a *report.Apparatus) string {
	if a == nil || a.CPUPressure <= 0.5 || a.Processors == 0 || a.CPUShare*float64(a.Processors) >= 0.5 {
		return ""
	}
	return fmt.Sprintf("; the machine starved the tool: it ran on %.1f%% of one processor while some task waited for a CPU %.0f%% of the time",
		100*a.CPUShare*float64(a.Processors), 100*a.CPUPressure)
}

// hiccupClause names the apparatus's hiccups, when measured.
func hiccupClause(a *report.Apparatus) string {
	if a == nil || a.HiccupMS.Count == 0 {
		return ""
	}
	return fmt.Sprintf(" (hiccup p50 %s, p99 %s)", ms(a.HiccupMS.P50), ms(a.HiccupMS.P99))
}

func ms(v float64) string { return report.FormatValue(v, scenario.UnitDuration) }
