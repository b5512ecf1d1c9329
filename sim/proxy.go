package sim

import (
	"net"
	"net/http"
	"strings"
	"time"
	"unsafe"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/admission"
	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/health"
	"github.com/ilities/ilities/sut/proxy"
)

// simProxy is the built-in proxy as the simulation models it, each of its
// replicas with its own state as the live ones have (sut/replicas.go): its
// pools' policies (balancer.NewWithOptions, seeded as the live replica
// seeds them, told the virtual time), each upstream's health
// (sut/health) and admission gate (sut/admission), its rate limiter and
// its retry budget. A replica routes a request to a pool by host and
// longest path prefix, picks an upstream, admits it past the upstream's
// gate, counts it in flight for as long as the exchange lasts, feeds the
// policy that learns and the passive health rules with every exchange,
// and retries a failed one on another upstream where the live proxy
// would. Its own work is a fixed cost per request.
//
// A scenario with several sites has a proxy for each (sites.go), its
// replicas among the run's (sim.replicas, where first is its first's
// index); the stations and pools are the run's, each site's proxy routing
// to its own pools and having its own stations as members.
type simProxy struct {
	site     int32
	name     string // the site's ("" without sites:)
	replicas []*replica
	first    int32
	// downFault is the site-down fault on now (its index), -1 when none;
	// outAt is when the DNS balancer took the site out of its answers, -1
	// while it answers with it.
	downFault int32
	outAt     int64
	// cfg is the live proxy's configuration, with its defaults.
	cfg proxy.Config
	// specs are every pool of the run, each site's with its proxy's
	// policy, by the pools' index: a proxy routes to its own alone.
	specs []poolSpec
	// member is the pool each station belongs to now (-1: not added yet,
	// removed, or another site's), which a restarting replica starts with.
	member  []int32
	cost    time.Duration
	timeout time.Duration
	// exchanges are the deadlines of the exchanges with the backends;
	// queueWaits those of the requests waiting at admission gates.
	exchanges, queueWaits deadlines
	// scratch holds the members a retry may pick; breq and header are the
	// request handed to the policies: all reused, as the live proxy reuses
	// its own.
	scratch []*balancer.Upstream
	breq    balancer.Request
	header  flightHeader
}

// poolSpec is what every replica's pool shares: its match, what its
// policy reads, its members at the start. A tier (a pool another pool
// calls) is not routed to: its backends are reached by their callers.
type poolSpec struct {
	name, host, prefix string
	needsPath          bool   // the policy reads Request.Path
	sticky             string // the sticky cookie's name, "" if none
	tier               bool
	site               int32
}

// replica is one proxy replica's own state: its index among the run's
// replicas, and local among its proxy's.
type replica struct {
	p     *simProxy
	index int32
	local int
	seed  int64
	down  bool
	pools []pool
	// ups are the replica's upstreams, one per station, in the stations'
	// order: upstream i is station i.
	ups         []upstream
	limiter     *admission.RateLimiter
	retryTokens int64
	events      []proxy.HealthEvent
}

type pool struct {
	members  []*balancer.Upstream
	policy   balancer.Policy
	observer balancer.Observer // nil unless the policy learns
	panicRR  uint64
}

// upstream is one replica's view of a station. Its balancer node comes
// first, so that the station of a node is a subtraction of addresses.
type upstream struct {
	node   balancer.Upstream
	health *health.Upstream
	gate   *admission.Gate[int32]
	pool   int32 // -1 while not a member of the replica's pool
	// load is what the station last reported with an answer (heard: one
	// did), which the proxy hands the policy that learns.
	load  balancer.Load
	heard bool
	// latency is the proxy's moving average of the time to an answer's
	// head, as its statistics keep it (each exchange moves it 10%).
	latency int64
	counts  upstreamCounts
	// nextCheck is when its next active check is due (an event at another
	// time is a stale one); slowTicking: a slow start's ticks run.
	nextCheck   int64
	slowTicking bool
}

// upstreamCounts are the live proxy's per-upstream counters that the
// windows show (windows[].proxy).
type upstreamCounts struct {
	requests, connectFailures, resets, timeouts   int64
	rejectedFull, rejectedTimeout                 int64
	healthChanges, ejections, activeCheckFailures int64
	status5xx, responses, retriedAway             int64
}

// request is what the proxy needs of one request of a workload: its pool,
// and what its policy may read.
type request struct {
	pool     int32 // -1: no pool matches (404)
	path     string
	header   http.Header
	tooLarge bool // a body over the proxy's max_body_bytes: 413
	// retryable: the live proxy may retry it after a failure other than
	// a refused connection (an idempotent method without a body).
	retryable bool
}

// failKind is how an exchange with a backend failed, as the live proxy
// tells failures apart (sut/proxy/serve.go).
type failKind uint8

const (
	failNone    failKind = iota
	failConnect          // refused: the backend is down
	failReset            // the connection was reset (a crash) or closed
	failTimeout          // no answer within the proxy's timeout
	failStatus           // a 502, 503 or 504 answer, kept in case of a retry
)

// maxRetried bounds the upstreams a request may have failed on and still
// be retried, as the live proxy's list of excluded upstreams does.
const maxRetried = 4

// clientIP is the address the live proxy sees the generator's requests from.
const clientIP = "127.0.0.1"

// slowStartTickEvery is the live proxy's maintenance period, which
// advances slow starts.
const slowStartTickEvery = 25 * time.Millisecond

// newProxy is the proxy of site called name (sc as the site alone is), its replicas
// the run's from first on, in front of the run's stations, member the
// pool of each of its own (-1 for the others).
func newProxy(sc *scenario.Scenario, site int32, name string, first int32, opts Options, member []int32) (*simProxy, error) {
	cfg := sut.ProxyConfig(sc) // the live proxy's own configuration
	if err := proxy.ApplyDefaults(&cfg); err != nil {
		return nil, err
	}
	p := &simProxy{
		site: site, name: name, first: first, downFault: -1, outAt: -1, cfg: cfg, cost: opts.ProxyCost, timeout: cfg.Timeout, member: member,
		exchanges:  deadlines{event: event{proxyTimeout, site}},
		queueWaits: deadlines{event: event{proxyQueueTimeout, site}},
	}
	for i := range max(sc.SUT.Proxy.Replicas, 1) {
		r := &replica{p: p, index: first + int32(i), local: i, seed: sut.ReplicaSeed(cfg.Seed, i)}
		p.replicas = append(p.replicas, r)
	}
	return p, nil
}

// poolSpecs are what the replicas of site's proxy share of the site's
// pools (sc as the site alone is).
func (p *simProxy) poolSpecs(sc *scenario.Scenario) ([]poolSpec, error) {
	var specs []poolSpec
	tiers := sc.SUT.Tiers()
	for _, pc := range sc.SUT.Pools {
		spec := poolSpec{name: pc.Name, host: pc.Match.Host, prefix: pc.Match.PathPrefix, needsPath: p.cfg.Strategy == "consistent-hash", tier: tiers[pc.Name], site: p.site}
		policy, err := balancer.NewWithOptions(p.cfg.Strategy, p.cfg.StrategyOptions)
		if err != nil {
			return nil, err
		}
		if sticky, ok := policy.(balancer.Sticky); ok {
			spec.sticky = sticky.CookieName()
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// startProxies builds every replica's state at the run's start.
func (s *sim) startProxies() error {
	for _, r := range s.replicas {
		if err := s.startReplica(r); err != nil {
			return err
		}
	}
	return nil
}

// startReplica gives replica r fresh state, as a replica has when it
// starts (or restarts after a crash): its policies, its upstreams' health
// published and their checks begun, for the stations that are members.
func (s *sim) startReplica(r *replica) error {
	p := r.p
	r.down = false
	r.events = nil
	r.retryTokens = retryTokenCap
	r.limiter = nil
	if p.cfg.RateLimit.Rate > 0 {
		r.limiter = admission.NewRateLimiter(p.cfg.RateLimit)
	}
	r.pools = make([]pool, len(p.specs))
	for i := range p.specs {
		if p.specs[i].site != p.site {
			continue // another site's pool: no policy, no member
		}
		o := p.cfg.StrategyOptions
		o.Seed = poolSeed(r.seed, i-s.firstPool[p.site])
		policy, err := balancer.NewWithOptions(p.cfg.Strategy, o)
		if err != nil {
			return err
		}
		r.pools[i].policy = policy
		r.pools[i].observer, _ = policy.(balancer.Observer)
	}
	r.ups = make([]upstream, len(s.stations))
	for i, st := range s.stations {
		u := &r.ups[i]
		u.node = balancer.Upstream{Name: st.name, Weight: st.weight}
		u.health = health.NewUpstream(p.healthRules())
		u.gate = admission.NewGate[int32](p.cfg.Admission.MaxInflight, p.cfg.Admission.Queue)
		u.pool = -1
		if pl := p.member[i]; pl >= 0 {
			s.join(r, int32(i), pl, health.ReasonStart)
		}
	}
	return nil
}

// join makes station i a member of pool pl of replica r: its health
// published with reason (start, added), and its checks begun.
func (s *sim) join(r *replica, i, pl int32, reason string) {
	u := &r.ups[i]
	u.pool = pl
	r.pools[pl].members = append(r.pools[pl].members, &u.node)
	s.changeHealth(r, i, func(h *health.Upstream, now time.Time) (health.Change, bool) { return h.Publish(reason, now) })
	s.startChecks(r, i)
}

// healthRules are the health rules of the proxy's configuration.
func (p *simProxy) healthRules() health.Rules {
	return health.Rules{Rise: p.cfg.Health.Rise, Fall: p.cfg.Health.Fall, Passive: p.cfg.Passive, SlowStart: p.cfg.SlowStart}
}

// poolSeed is the seed of pool i's policy, as the live proxy derives it
// from its replica's seed.
func poolSeed(seed int64, i int) int64 {
	return int64(uint64(seed) + uint64(i)*0x9e3779b97f4a7c15)
}

// newRequest is what the proxy will know of request r of a workload: the
// pool the live proxy's rule routes it to, from the Host the generator
// sends (its own header, or the proxy's address) and its path, whether
// its body is over the proxy's limit, and whether a failure may be
// retried. sc is the scenario as the proxy's site alone is.
func (p *simProxy) newRequest(sc *scenario.Scenario, r scenario.Request) (request, error) {
	path, _, _ := strings.Cut(r.Path, "?")
	q := request{path: path, header: http.Header{}}
	host, _, err := net.SplitHostPort(sc.SUT.Listen)
	if err != nil {
		host = sc.SUT.Listen
	}
	for k, v := range r.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			host = v
			if h, _, err := net.SplitHostPort(v); err == nil {
				host = h
			}
			continue
		}
		q.header.Set(k, v)
	}
	q.pool = p.route(strings.Trim(host, "[]"), path)
	body, err := sc.ReadBody(r)
	if err != nil {
		return q, err
	}
	limit := int64(sc.SUT.Proxy.Limits.MaxBodyBytes)
	if limit <= 0 {
		limit = proxy.DefaultMaxBodyBytes
	}
	q.tooLarge = int64(len(body)) > limit
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	// A templated body, weighed as nothing above, still holds one.
	hasBody := len(body) > 0 || r.Templates != nil && r.Templates.Body != nil
	q.retryable = proxy.Idempotent(method) && !hasBody
	return q, nil
}

// route is the live proxy's routing rule: among the pools routed to whose
// host (if set) is the request's, without its port, and whose path prefix
// starts its path, the longest prefix wins, then a pool with a host, then
// the earlier pool; -1 when none matches.
func (p *simProxy) route(host, path string) int32 {
	best := int32(-1)
	for i, pl := range p.specs {
		if pl.tier || pl.site != p.site || pl.host != "" && !strings.EqualFold(pl.host, host) || !strings.HasPrefix(path, pl.prefix) {
			continue
		}
		if b := &p.specs[max(best, 0)]; best < 0 || len(pl.prefix) > len(b.prefix) ||
			len(pl.prefix) == len(b.prefix) && pl.host != "" && b.host == "" {
			best = int32(i)
		}
	}
	return best
}

// stationOf is the station of node u, one of r's upstreams: a subtraction
// of addresses, where a map from upstream to station would cost a lookup
// per request.
func (r *replica) stationOf(u *balancer.Upstream) int32 {
	return int32((uintptr(unsafe.Pointer(u)) - uintptr(unsafe.Pointer(&r.ups[0].node))) / unsafe.Sizeof(r.ups[0]))
}

// atProxy takes flight id in at its replica: the client's connection is
// refused (a crashed replica), or the replica answers it itself (429 over
// the rate limit, 413 too large, 404 unrouted, 503 no upstream, in the
// live proxy's order), or picks its upstream and forwards it past the
// upstream's admission gate.
func (s *sim) atProxy(id int32) {
	f := &s.fs.all[id]
	if f.proxyDone { // its replica crashed on the way
		s.fs.release(id)
		return
	}
	r := s.replicas[f.replica] // the client's pick (send)
	p := r.p
	if r.down {
		s.refused(id, f)
		s.fs.release(id)
		return
	}
	req := s.requestOf(f)
	if r.limiter != nil {
		if ok, _ := r.limiter.Allow(clientIP, wall(s.cal.now)); !ok {
			s.proxyAnswers(id, http.StatusTooManyRequests)
			s.fs.release(id)
			return
		}
	}
	switch {
	case req.tooLarge:
		s.proxyAnswers(id, http.StatusRequestEntityTooLarge)
	case req.pool < 0:
		s.proxyAnswers(id, http.StatusNotFound)
	default:
		if p.cfg.Retries > 0 && r.retryTokens < retryTokenCap {
			r.retryTokens += int64(p.cfg.RetryBudget * 1000)
		}
		st := s.pick(r, f, req)
		if st < 0 {
			s.proxyAnswers(id, http.StatusServiceUnavailable)
			break
		}
		s.enterGate(id, f, r, st)
	}
	s.fs.release(id)
}

// Failure classes the simulated client records (runner's classes).
const (
	classRefused   = "refused"
	classReset     = "reset"
	classTruncated = "truncated"
)

// pick is the station the replica's pool policy picks for flight f among
// the members it was not sent to yet, -1 when none is available. With
// all_down: panic and none available, it rotates over the members that are
// not draining, as the live proxy does.
func (s *sim) pick(r *replica, f *flight, req *request) int32 {
	p := r.p
	pl := &r.pools[req.pool]
	members := pl.members
	if f.ntried > 0 {
		p.scratch = p.scratch[:0]
		for _, m := range members {
			if !f.triedOn(r.stationOf(m)) {
				p.scratch = append(p.scratch, m)
			}
		}
		members = p.scratch
	}
	p.header = flightHeader{base: req.header, cookie: s.cookies.line(req.pool, s.sessionOf(f))}
	p.breq = balancer.Request{ClientIP: clientIP, Header: &p.header, Now: wall(s.cal.now)}
	if p.specs[req.pool].needsPath {
		p.breq.Path = req.path
	}
	u := pl.policy.Select(members, &p.breq)
	if u == nil && p.cfg.AllDown == "panic" && len(members) > 0 {
		for range members {
			pl.panicRR++
			cand := members[pl.panicRR%uint64(len(members))]
			if !r.ups[r.stationOf(cand)].health.Draining() {
				u = cand
				break
			}
		}
	}
	if u == nil {
		return -1
	}
	return r.stationOf(u)
}

// triedOn reports whether f was sent to station st already.
func (f *flight) triedOn(st int32) bool {
	for _, t := range f.tried[:f.ntried] {
		if t == st {
			return true
		}
	}
	return false
}

// enterGate takes flight id to upstream st's admission gate: admitted, it
// is forwarded; queued, it waits for a slot until the queue timeout;
// rejected (the queue full, or evicted by a known session), the replica
// answers 503 naming the upstream.
func (s *sim) enterGate(id int32, f *flight, r *replica, st int32) {
	p := r.p
	u := &r.ups[st]
	f.station = st
	f.tried[f.ntried] = st
	f.ntried++
	known := p.cfg.Admission.SessionAware && balancer.CookieValue(&p.header, p.cfg.Admission.SessionCookie) != ""
	entry, evicted, didEvict := u.gate.Enter(&u.node, id, known)
	if didEvict {
		e := &s.fs.all[evicted]
		e.waitsAtGate = false
		u.counts.rejectedFull++
		s.proxyAnswers(evicted, http.StatusServiceUnavailable)
		s.fs.release(evicted) // the gate's hold
	}
	switch entry {
	case admission.Admitted:
		s.forward(id, f, r, st)
	case admission.Queued:
		f.waitsAtGate, f.gateSince = true, s.cal.now
		f.holds++ // the gate's
		s.add(&p.queueWaits, id, s.cal.now+int64(p.cfg.Admission.QueueTimeout), leftGate)
	case admission.RejectedFull:
		u.counts.rejectedFull++
		s.proxyAnswers(id, http.StatusServiceUnavailable)
	}
}

// leftGate: the request no longer waits at a gate (admitted, or answered).
func leftGate(f *flight) bool { return !f.waitsAtGate }

// proxyQueueTimeout answers 503 for each request past site's proxy's
// admission queue's timeout, oldest first.
func (s *sim) proxyQueueTimeout(site int32) {
	p := s.proxies[site]
	for {
		id, ok := s.due(&p.queueWaits, leftGate)
		if !ok {
			return
		}
		f := &s.fs.all[id]
		if f.gateSince+int64(p.cfg.Admission.QueueTimeout) > s.cal.now {
			continue // an earlier wait's deadline: it waits at another gate since
		}
		u := &s.replicas[f.replica].ups[f.station]
		if u.gate.GiveUp(&u.node, id) {
			f.waitsAtGate = false
			u.counts.rejectedTimeout++
			s.proxyAnswers(id, http.StatusServiceUnavailable)
			s.fs.release(id) // the gate's hold
		}
	}
}

// forward sends flight id on to station st after the replica's cost: an
// exchange begins, with its deadline.
func (s *sim) forward(id int32, f *flight, r *replica, st int32) {
	p := r.p
	u := &r.ups[st]
	u.counts.requests++
	s.stations[st].lastForward = s.cal.now
	f.station, f.fail, f.cut, f.visit, f.exchangeOver, f.failedTier = st, failNone, false, f.visit+1, false, -1
	f.forwarded = s.cal.now + int64(p.cost)
	s.add(&p.exchanges, id, f.forwarded+int64(p.timeout), proxyEnded)
	s.exchangeEvent(id, atStation, p.cost+s.net)
}

// proxyAnswers answers flight id from the proxy itself, after its cost.
func (s *sim) proxyAnswers(id int32, status int32) {
	f := &s.fs.all[id]
	f.status, f.proxyDone = status, true
	s.schedule(id, clientAnswer, s.replicas[f.replica].p.cost+s.net+time.Duration(f.path))
}

// proxyAnswer takes a station's answer to flight id (or its failure: a
// refused connection, a reset), unless the exchange is over (the proxy
// gave up on it, or retried it elsewhere): the exchange ends, and the
// answer is relayed, or the request retried.
func (s *sim) proxyAnswer(e int32) {
	id, current := s.exchangeOf(e)
	f := &s.fs.all[id]
	switch {
	case !current || f.proxyDone:
	case f.check:
		s.checkAnswered(id, f)
	case f.call:
		s.callAnswered(id, f)
	default:
		f.exchangeOver = true
		r := s.replicas[f.replica]
		p := r.p
		u := &r.ups[f.station]
		rtt := time.Duration(s.cal.now - f.forwarded)
		fail := f.fail
		switch fail {
		case failConnect:
			u.counts.connectFailures++
			rtt = 0
		case failReset:
			u.counts.resets++
		default:
			u.counts.responses++
			u.load = balancer.Load{Inflight: int(f.loadInflight), Workers: s.stations[f.station].workers, Queue: int(f.loadQueue)}
			u.heard = true
			if f.status >= 500 {
				u.counts.status5xx++
			}
			if f.cut {
				u.counts.resets++ // it broke off mid-body
			}
			if p.cfg.Retries > 0 && (f.status == 502 || f.status == 503 || f.status == 504) {
				fail = failStatus
			}
		}
		s.endExchange(r, f, rtt, fail != failNone || f.status >= 500)
		s.answerOrRetry(id, f, r, fail)
	}
	s.fs.release(id)
}

// proxyTimeout ends each exchange past site's proxy's timeout, oldest
// first: 504, or a retry. A request the backend still holds in its waiting
// room leaves it, as the live backend's does when the proxy closes the
// connection; one in service is served to its end, one making its calls
// ends them (giveUp).
func (s *sim) proxyTimeout(site int32) {
	p := s.proxies[site]
	for {
		id, ok := s.due(&p.exchanges, proxyEnded)
		if !ok {
			return
		}
		f := &s.fs.all[id]
		if f.exchangeOver || f.forwarded+int64(p.timeout) > s.cal.now {
			continue // an earlier exchange's deadline: it was retried since
		}
		f.exchangeOver = true // whatever the backend answers now is too late
		s.giveUp(f)
		r := s.replicas[f.replica]
		r.ups[f.station].counts.timeouts++
		s.endExchange(r, f, p.timeout, true)
		s.answerOrRetry(id, f, r, failTimeout)
	}
}

// answerOrRetry ends flight id's exchange that ended as fail: a failure
// the live proxy retries goes to another upstream while the retries and
// the budget allow and one is left; otherwise the client gets the answer,
// or the failure's own (504 timeout, 502 refused or reset).
func (s *sim) answerOrRetry(id int32, f *flight, r *replica, fail failKind) {
	p := r.p
	if fail != failNone && int(f.ntried) <= p.cfg.Retries && f.ntried <= maxRetried && s.mayRetry(r, f, fail) {
		req := s.requestOf(f)
		if next := s.pick(r, f, req); next >= 0 {
			r.ups[f.station].counts.retriedAway++
			s.enterGate(id, f, r, next)
			return
		}
		r.retryTokens += 1000 // nowhere to go: the token is given back
	}
	f.proxyDone = true
	switch fail {
	case failTimeout:
		f.status = http.StatusGatewayTimeout
	case failConnect, failReset:
		f.status = http.StatusBadGateway
	default:
		s.relayed(f)
	}
	s.hop(id, clientAnswer)
}

// mayRetry applies the live proxy's retry rules: a refused connection
// always, other failures only for an idempotent method without a body;
// each retry takes a token of the budget.
func (s *sim) mayRetry(r *replica, f *flight, fail failKind) bool {
	if fail != failConnect && !s.requestOf(f).retryable {
		return false
	}
	if r.retryTokens < 1000 {
		return false
	}
	r.retryTokens -= 1000
	return true
}

// Retry budget: every request deposits RetryBudget retries (in
// thousandths) up to a cap; a retry withdraws one (sut/proxy/serve.go).
const retryTokenCap = 100 * 1000

// relayed is an upstream's answer on its way to the client: the cookies
// it sets reach the client's session (the sticky cookie naming the
// upstream, when the request did not carry it; a backend's new session).
func (s *sim) relayed(f *flight) {
	sess := s.sessionOf(f)
	if sess == nil || f.clientDone {
		return // (a client that gave up reads no cookie: its session may be a new iteration's)
	}
	if spec := &s.specs[s.requestOf(f).pool]; spec.sticky != "" {
		sess.proxyCookie = s.stations[f.station].name
	}
	if f.newSession {
		sess.backend, sess.backendGen = f.station, f.newSessionGen
	}
}

// endExchange ends f's exchange with its upstream after rtt: the gate's
// slot passes on (to a request waiting there, which is forwarded now),
// the policy learns of it with the load the upstream last reported (as
// the live proxy keeps it), and so do the passive health rules.
func (s *sim) endExchange(r *replica, f *flight, rtt time.Duration, failed bool) {
	u := &r.ups[f.station]
	pl := &r.pools[s.requestOf(f).pool]
	if !failed {
		if u.latency == 0 {
			u.latency = int64(rtt)
		} else {
			u.latency += (int64(rtt) - u.latency) / 10
		}
	}
	s.passiveResult(r, f.station, failed)
	if pl.observer != nil {
		o := balancer.Observation{At: wall(s.cal.now), RTT: rtt, Failed: failed}
		if u.heard {
			o.Load = &u.load
		}
		pl.observer.Observe(&u.node, o)
	}
	if next, ok := u.gate.Leave(&u.node); ok {
		n := &s.fs.all[next]
		n.waitsAtGate = false
		s.forward(next, n, r, n.station)
		s.fs.release(next) // the gate's hold
	}
}

// crashReplica stops replica r abruptly: the requests in progress there
// fail (their clients see the connection reset, their backends the
// connection closed), its clients' idle connections close, and new ones
// are refused until it restarts. A request still waiting for a connection
// to it is refused when it gets one.
func (s *sim) crashReplica(r *replica) {
	r.down = true
	s.dropIdle(r.index)
	for i := range s.fs.all {
		id, f := int32(i), &s.fs.all[i]
		if f.holds == 0 || f.replica != r.index || f.proxyDone || !f.check && !f.connected {
			continue
		}
		f.proxyDone, f.exchangeOver = true, true
		s.giveUp(f)
		if f.waitsAtGate {
			f.waitsAtGate = false
			s.fs.release(id) // the gate's hold
		}
		if f.check {
			s.fs.release(id) // the check's own hold
			continue
		}
		f.class = classReset
		s.hop(id, clientAnswer)
	}
}

// flightHeader is a request's headers as a policy reads them: the
// workload's, and the cookies its session holds.
type flightHeader struct {
	base   http.Header
	cookie string
}

// Get implements balancer.Headers.
func (h *flightHeader) Get(name string) string {
	if h.cookie != "" && name == "Cookie" {
		return h.cookie
	}
	return h.base.Get(name)
}

// cookieLines are the Cookie headers a session may send, made once each:
// the sticky cookie naming an upstream of a pool, a backend's session
// cookie, or both. A request reads its line without building it.
type cookieLines struct {
	stations []string
	specs    []poolSpec
	session  string       // the backends' session cookie's name
	lines    [][][]string // [pool][sticky upstream + 1][session station + 1]
}

func newCookieLines(stations []string, specs []poolSpec, sessionCookie string) cookieLines {
	c := cookieLines{stations: stations, specs: specs, session: sessionCookie, lines: make([][][]string, len(specs))}
	for i := range specs {
		c.lines[i] = make([][]string, len(stations)+1)
		for j := range c.lines[i] {
			c.lines[i][j] = make([]string, len(stations)+1)
		}
	}
	return c
}

// line is the Cookie header of a request of pool pl in session sess
// (nil: none), "" when it carries no cookie.
func (c *cookieLines) line(pl int32, sess *session) string {
	if sess == nil || sess.proxyCookie == "" && sess.backend < 0 {
		return ""
	}
	sticky := 0
	if c.specs[pl].sticky != "" && sess.proxyCookie != "" {
		for i, name := range c.stations {
			if name == sess.proxyCookie {
				sticky = i + 1
				break
			}
		}
	}
	at := &c.lines[pl][sticky][sess.backend+1]
	if *at == "" {
		var parts []string
		if sticky > 0 {
			parts = append(parts, c.specs[pl].sticky+"="+c.stations[sticky-1])
		}
		if sess.backend >= 0 {
			parts = append(parts, c.session+"="+c.stations[sess.backend])
		}
		*at = strings.Join(parts, "; ")
	}
	return *at
}

// visitShift places an exchange's number (flight.visit, modulo 128) in
// the high bits of its events' ids, above the flight's index.
const visitShift = 24

// exchangeEvent has event kind happen d from now to flight id's current
// exchange with a backend, which holds the flight.
func (s *sim) exchangeEvent(id int32, kind eventKind, d time.Duration) {
	f := &s.fs.all[id]
	f.holds++
	s.cal.after(d, event{kind, id | int32(f.visit&0x7f)<<visitShift})
}

// exchangeOf is the flight an exchange's event names, and whether that
// exchange is still the flight's current one.
func (s *sim) exchangeOf(e int32) (id int32, current bool) {
	id = e & (1<<visitShift - 1)
	f := &s.fs.all[id]
	return id, uint8(e>>visitShift) == f.visit&0x7f && !f.exchangeOver
}

// requestOf is what the proxy knows of client request f at its site.
func (s *sim) requestOf(f *flight) *request {
	return &s.workloads[f.workload].requests[s.replicas[f.replica].p.site][f.request]
}

// sessionOf is the session flight f belongs to, nil when none.
func (s *sim) sessionOf(f *flight) *session {
	if f.session < 0 {
		return nil
	}
	return &s.sessions[f.session]
}
