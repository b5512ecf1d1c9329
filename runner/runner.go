package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// Version is the generator's version, reported as "ilities <Version>".
var Version = "dev"

// NodeHeader is the response header naming the node that served a request.
const NodeHeader = "X-Ilities-Backend"

// ErrNoResponse is returned, with the result, when requests were sent but
// not a single HTTP response came back (e.g. the target refused every
// connection): the run could not be carried out.
var ErrNoResponse = errors.New("runner: not a single HTTP response was received from the target")

// Options are the run's wiring, beside the scenario.
type Options struct {
	// URL is the base URL the load goes to (the built-in proxy's URL or the
	// scenario's target.url); each request's path is appended to it.
	URL string
	// NodeStats, when set, is called once at the end of the run to read the
	// nodes' own figures (utilisation, weight).
	NodeStats func() []NodeReport
	// Progress, when non-nil, receives one plain progress line every 5 s.
	Progress io.Writer
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

// Run drives the scenario's open-loop workloads against opts.URL for the
// scenario's duration, all on one timeline, and returns what was measured.
// The scenario must have its defaults applied. Cancelling ctx stops the run
// at once: the result is then marked incomplete and holds what was measured
// until the stop. Failed requests are data in the result, not errors; the
// error is non-nil only when the run could not be set up, or with
// ErrNoResponse.
func Run(ctx context.Context, sc *scenario.Scenario, opts Options) (*report.Result, error) {
	if sc == nil || len(sc.Workload) == 0 {
		return nil, errors.New("runner: the scenario has no workload")
	}
	base, err := url.Parse(opts.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("runner: target URL %q: want http://host[:port][/prefix] or https://...", opts.URL)
	}
	duration := sc.Duration.D()

	workloads := make([]*workloadRun, len(sc.Workload))
	var settle time.Duration
	for i := range sc.Workload {
		w, err := newWorkloadRun(sc, i, opts.URL, duration)
		if err != nil {
			return nil, err
		}
		defer w.transport.CloseIdleConnections()
		workloads[i] = w
		settle = max(settle, w.maxLateness+w.timeout)
	}
	col := newCollector(len(workloads), settle+2*harvestEvery)

	reqCtx, abort := context.WithCancel(context.Background())
	defer abort()
	e := &engine{duration: duration, stop: make(chan struct{}), reqCtx: reqCtx}

	// Workers first, so that the clock starts with every slot ready.
	var workers, schedulers sync.WaitGroup
	schedRecs := make([]*recorder, len(workloads))
	for _, w := range workloads {
		for range w.maxInflight {
			rec := col.newRecorder(w.index)
			workers.Go(func() { e.work(w, rec) })
		}
		schedRecs[w.index] = col.newRecorder(w.index)
	}
	e.start = time.Now()

	quit, collected := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(collected)
		tick := time.NewTicker(harvestEvery)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-quit:
				return
			case <-tick.C:
				col.harvest()
				now := e.since()
				col.closeWindows(now)
				if opts.Progress != nil && n%progressEvery == 0 {
					col.writeProgress(opts.Progress, now, duration)
				}
			}
		}
	}()

	for _, w := range workloads {
		schedulers.Go(func() { e.schedule(w, schedRecs[w.index]) })
	}

	stopped, aborted := false, false
	end := time.NewTimer(duration)
	select {
	case <-end.C:
	case <-ctx.Done():
		end.Stop()
		stopped = true
		e.stopAt = min(e.since(), duration)
		close(e.stop)
	}
	schedulers.Wait()

	// Requests in flight are awaited (each is bounded by its timeout);
	// once the caller gives up, only briefly.
	inflight := make(chan struct{})
	go func() { workers.Wait(); close(inflight) }()
	select {
	case <-inflight:
	case <-ctx.Done():
		select {
		case <-inflight:
		case <-time.After(abortGrace):
			aborted = true
			abort()
			<-inflight
		}
	}
	close(quit)
	<-collected
	col.harvest()
	col.closeWindows(-1)

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
	res, err := buildResult(sc, opts, col, workloads, e.start, duration, measured, stopped || aborted)
	if err != nil {
		return nil, err
	}
	sent := res.Totals.Succeeded + res.Totals.Failed - res.Errors[ClassAborted]
	if col.responses == 0 && sent > 0 {
		return res, ErrNoResponse
	}
	return res, nil
}

// engine is the shared clock and stop signal of one run.
type engine struct {
	start    time.Time
	duration time.Duration
	// stop is closed when the run is interrupted; stopAt, written before,
	// is the instant of the stop: arrivals due from then on are not scheduled.
	stop   chan struct{}
	stopAt time.Duration
	// reqCtx is the parent of every request; cancelling it abandons
	// requests in flight.
	reqCtx context.Context
}

func (e *engine) since() time.Duration { return time.Since(e.start) }

// arrival is one scheduled request handed from a scheduler to a worker.
type arrival struct {
	intended time.Duration
	req      int
}

// workloadRun is the runtime form of one workload.
type workloadRun struct {
	index       int
	name        string
	timeout     time.Duration
	maxLateness time.Duration
	maxInflight int
	expect      expectation

	// transport is used directly rather than through an http.Client: a
	// redirect is a response like any other, measured and not followed,
	// and the client's per-request header copies are saved.
	transport *http.Transport
	requests  []requestTemplate
	cumWeight []int
	pacer     Pacer
	mix       *rand.Rand
	// work is unbuffered: a hand-over succeeds only when a worker is idle,
	// so at most maxInflight requests are ever in flight.
	work chan arrival

	// Written by the scheduler, read by Run after it returned.
	lastIntended time.Duration
	scheduledAny bool
}

func newWorkloadRun(sc *scenario.Scenario, i int, baseURL string, duration time.Duration) (*workloadRun, error) {
	spec := sc.Workload[i]
	if spec.Model != "" && spec.Model != "open" {
		return nil, fmt.Errorf("runner: workload %q: model %q is not supported by the open-loop engine", spec.Name, spec.Model)
	}
	pacer, err := NewPacer(spec, duration, sc.Seed, i)
	if err != nil {
		return nil, err
	}
	w := &workloadRun{
		index:       i,
		name:        spec.Name,
		timeout:     spec.Timeout.D(),
		maxLateness: spec.MaxLateness.D(),
		maxInflight: spec.MaxInflight,
		expect:      newExpectation(spec.Expect.Status),
		pacer:       pacer,
		mix:         streamRNG(sc.Seed, i, streamMix),
		work:        make(chan arrival),
	}
	// Guards only: the scenario package owns the defaults.
	if w.timeout <= 0 {
		w.timeout = 10 * time.Second
	}
	if w.maxLateness <= 0 {
		w.maxLateness = w.timeout
	}
	if w.maxInflight <= 0 {
		w.maxInflight = 1000
	}
	reqs := spec.Requests
	if len(reqs) == 0 {
		reqs = []scenario.Request{{Method: http.MethodGet, Path: "/", Weight: 1}}
	}
	total := 0
	for _, r := range reqs {
		t, err := newRequestTemplate(baseURL, r)
		if err != nil {
			return nil, fmt.Errorf("runner: workload %q: %w", spec.Name, err)
		}
		w.requests = append(w.requests, t)
		total += max(r.Weight, 0)
		w.cumWeight = append(w.cumWeight, total)
	}
	if total == 0 {
		return nil, fmt.Errorf("runner: workload %q: the request weights add up to 0", spec.Name)
	}
	w.transport = newTransport(w.maxInflight)
	return w, nil
}

// newTransport keeps one HTTP/1.1 connection per request in flight, reused
// across requests, so that max_inflight is also the connection count.
func newTransport(maxInflight int) *http.Transport {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxInflight,
		MaxIdleConnsPerHost: maxInflight,
		MaxConnsPerHost:     maxInflight,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		Protocols:           protocols,
	}
}

// pick chooses the next request of the mix by weight. Every arrival draws
// once, sent or not, so the k-th arrival's request depends only on the seed.
func (w *workloadRun) pick() int {
	if len(w.requests) == 1 {
		return 0
	}
	n := w.mix.IntN(w.cumWeight[len(w.cumWeight)-1])
	for i, c := range w.cumWeight {
		if n < c {
			return i
		}
	}
	return len(w.cumWeight) - 1
}

// requestTemplate is a request of the mix, built once; each arrival gets a
// shallow copy carrying its own context and body reader.
type requestTemplate struct {
	req     *http.Request
	hasBody bool
}

func newRequestTemplate(baseURL string, r scenario.Request) (requestTemplate, error) {
	path := r.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, strings.TrimRight(baseURL, "/")+path, nil)
	if err != nil {
		return requestTemplate{}, fmt.Errorf("request %s %s: %w", method, r.Path, err)
	}
	for k, v := range r.Headers {
		if textproto.CanonicalMIMEHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if u := req.URL.User; u != nil {
		// What http.Client would do for user:password@ in the URL.
		password, _ := u.Password()
		req.SetBasicAuth(u.Username(), password)
		req.URL.User = nil
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "ilities/"+Version)
	}
	t := requestTemplate{req: req}
	if r.Body != "" {
		body := []byte(r.Body)
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		t.hasBody = true
	}
	return t, nil
}

func (t *requestTemplate) build(ctx context.Context) *http.Request {
	r := t.req.WithContext(ctx)
	if t.hasBody {
		r.Body, _ = t.req.GetBody()
	}
	return r
}

// schedule is the workload's clock: it takes arrivals from the pacer,
// waits for each one's intended time and hands it to an idle worker. An
// arrival that finds no idle worker waits, in order, until it can be sent
// or until it is too late: max_lateness after its intended time, or the end
// of the run (with the 1 ms lateness tolerance); then it is dropped.
func (e *engine) schedule(w *workloadRun, rec *recorder) {
	defer close(w.work)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	stopped := false
	drop := func(at time.Duration) { rec.add(sample{intended: at, outcome: outDropped}) }
	for {
		at, ok := w.pacer.Next()
		if !ok {
			return
		}
		req := w.pick()
		if !stopped {
			select {
			case <-e.stop:
				stopped = true
			default:
			}
		}
		if !stopped && !e.sleepUntil(at, timer) {
			stopped = true
		}
		if stopped {
			// Arrivals due before the stop and never sent are dropped; the
			// ones after it are not part of the run.
			if at >= e.stopAt {
				return
			}
			w.lastIntended, w.scheduledAny = at, true
			drop(at)
			continue
		}
		w.lastIntended, w.scheduledAny = at, true
		sendBy := min(at+w.maxLateness, e.duration+lateAfter)
		wait := sendBy - e.since()
		if wait < 0 {
			drop(at)
			continue
		}
		a := arrival{intended: at, req: req}
		select {
		case w.work <- a:
			continue
		default:
		}
		timer.Reset(wait)
		select {
		case w.work <- a:
			timer.Stop()
		case <-timer.C:
			drop(at)
		case <-e.stop:
			timer.Stop()
			stopped = true
			drop(at)
		}
	}
}

// fineWait is the last stretch before an arrival that is slept precisely
// rather than on a runtime timer (see preciseSleep).
const fineWait = 2 * time.Millisecond

// sleepUntil waits until offset at of the run; it returns false when the
// run was stopped first.
func (e *engine) sleepUntil(at time.Duration, timer *time.Timer) bool {
	if coarse := at - e.since() - fineWait; coarse > 0 {
		timer.Reset(coarse)
		select {
		case <-timer.C:
		case <-e.stop:
			timer.Stop()
			return false
		}
	}
	preciseSleep(at - e.since())
	return true
}

// work is one worker: one request in flight at a time.
func (e *engine) work(w *workloadRun, rec *recorder) {
	for a := range w.work {
		sent := e.since()
		o, node, responded := w.exchange(e.reqCtx, &w.requests[a.req])
		rec.add(sample{
			intended:  a.intended,
			sent:      sent,
			done:      e.since(),
			node:      node,
			outcome:   o,
			responded: responded,
		})
	}
}

// exchange sends one request and reads its response to the end, all within
// the workload's timeout counted from the send.
func (w *workloadRun) exchange(parent context.Context, t *requestTemplate) (o outcome, node string, responded bool) {
	ctx, cancel := context.WithTimeout(parent, w.timeout)
	defer cancel()
	resp, err := w.transport.RoundTrip(t.build(ctx))
	if err != nil {
		return classifyError(ctx.Err(), err), "", false
	}
	if v := resp.Header[NodeHeader]; len(v) > 0 {
		node = v[0]
	}
	// io.Discard reads through a pooled buffer: no allocation per request.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return classifyError(ctx.Err(), err), node, true
	}
	return w.expect.classifyStatus(resp.StatusCode), node, true
}

// buildResult turns the collector's figures into the result.
func buildResult(sc *scenario.Scenario, opts Options, col *collector, workloads []*workloadRun,
	started time.Time, duration, measured time.Duration, incomplete bool) (*report.Result, error) {
	measuredS := measured.Seconds()
	windowOK := sc.WindowOK.Fraction()
	res := &report.Result{
		SchemaVersion: report.SchemaVersion,
		Tool:          "ilities " + Version,
		Scenario:      sc.Name,
		Seed:          sc.Seed,
		Target:        opts.URL,
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
	var err error
	if res.Stats, err = col.run.stats(measuredS, windowOK); err != nil {
		return nil, err
	}
	for i, w := range workloads {
		st, err := col.workloads[i].stats(measuredS, windowOK)
		if err != nil {
			return nil, err
		}
		res.Workloads = append(res.Workloads, report.WorkloadResult{Name: w.name, Stats: st})
	}

	nWindows := max(int(math.Ceil(measuredS)), len(col.windows))
	for i := range nWindows {
		win := report.Window{T: i}
		if i < len(col.windows) {
			acc := col.windows[i]
			win.Succeeded = acc.counts[outSuccess]
			win.Dropped = acc.counts[outDropped]
			for o := outRefused; o < numOutcomes; o++ {
				if n := acc.counts[o]; n > 0 {
					win.Failed += n
					if win.Errors == nil {
						win.Errors = map[string]int64{}
					}
					win.Errors[o.class()] = n
				}
			}
			win.Scheduled = win.Succeeded + win.Failed + win.Dropped
			win.LatencyMS = acc.summary
			win.Nodes = acc.nodes
		}
		if span := min(1, measuredS-float64(i)); span > 0 {
			win.ThroughputRPS = float64(win.Succeeded) / span
		}
		res.Windows = append(res.Windows, win)
	}

	res.Nodes, res.Fairness = nodesOf(col.nodes, opts.NodeStats)
	res.Generator = generatorOf(res.Totals, col)
	return res, nil
}

func (a *scopeAcc) stats(measuredS, windowOK float64) (report.Stats, error) {
	s := report.Stats{
		Totals:           a.totals(),
		Errors:           a.errors(),
		LatencyMS:        report.PercentilesOf(a.lat),
		ServiceLatencyMS: report.PercentilesOf(a.svc),
	}
	var err error
	if s.Histograms.Latency, err = report.EncodeHistogram(a.lat); err != nil {
		return s, fmt.Errorf("runner: encoding a histogram: %w", err)
	}
	if s.Histograms.ServiceLatency, err = report.EncodeHistogram(a.svc); err != nil {
		return s, fmt.Errorf("runner: encoding a histogram: %w", err)
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
		if total > 0 {
			n.Share = float64(n.Requests) / float64(total)
		}
		nodes = append(nodes, *n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	var fairness float64
	if len(nodes) > 1 && total > 0 {
		xs := make([]float64, len(nodes))
		for i, n := range nodes {
			weight := n.Weight
			if weight <= 0 {
				weight = 1
			}
			xs[i] = n.Share / weight
		}
		fairness = report.JainIndex(xs)
	}
	return nodes, fairness
}

// generatorOf tells whether the generator itself kept up.
func generatorOf(t report.Totals, col *collector) report.Generator {
	g := report.Generator{SendLagMS: report.PercentilesOf(col.lag)}
	sent := t.Succeeded + t.Failed
	if t.Dropped > 0 || float64(sent) < 0.99*float64(t.Scheduled) {
		g.Saturated = true
		g.Reason = fmt.Sprintf("%d of %d arrivals dropped (%.2f%%): no free in-flight slot within max_lateness of their intended time or before the end; raise max_inflight or lower the rate",
			t.Dropped, t.Scheduled, 100*float64(t.Dropped)/float64(max(t.Scheduled, 1)))
	} else if t.Late > 0 {
		g.Reason = fmt.Sprintf("%d of %d arrivals sent more than %v late (p99 send lag %.2fms); their latency includes the wait",
			t.Late, t.Scheduled, lateAfter, g.SendLagMS.P99)
	}
	return g
}
