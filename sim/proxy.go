package sim

import (
	"net"
	"net/http"
	"strings"
	"time"
	"unsafe"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/proxy"
)

// simProxy is the built-in proxy as the simulation models it: it routes a
// request to a pool by host and longest path prefix, picks the upstream
// with the pool's own policy (balancer.NewWithOptions, seeded as the live
// proxy seeds it, told the virtual time), counts the request in flight
// on the upstream for as long as the exchange lasts, feeds a policy that
// learns (balancer.Observer) with every exchange as the live proxy does,
// and answers 504 when a backend does not answer within the proxy's
// timeout. Its own work is a fixed cost per request. What else the live
// proxy does (health, retries, admission, limits per client) is refused
// by Unsupported until it is modelled.
type simProxy struct {
	pools []pool
	// upstreams are every pool's members in the scenario's order:
	// upstream i is station i.
	upstreams []balancer.Upstream
	// loads are the loads the upstreams last reported with an answer
	// (heard: one did), which the proxy hands the policy that learns.
	loads   []balancer.Load
	heard   []bool
	cost    time.Duration
	timeout time.Duration
	// exchanges are the deadlines of the exchanges with the backends.
	exchanges deadlines
	// breq is the request handed to the policies, reused as the live
	// proxy reuses its own.
	breq balancer.Request
}

type pool struct {
	host, prefix string // the match: host ("" for any) and path prefix
	members      []*balancer.Upstream
	policy       balancer.Policy
	observer     balancer.Observer // nil unless the policy learns
	needsPath    bool              // the policy reads Request.Path
}

// request is what the proxy needs of one request of a workload: its pool,
// and what its policy may read.
type request struct {
	pool     int32 // -1: no pool matches (404)
	path     string
	header   http.Header
	tooLarge bool // a body over the proxy's max_body_bytes: 413
}

// clientIP is the address the live proxy sees the generator's requests from.
const clientIP = "127.0.0.1"

func newProxy(sc *scenario.Scenario, opts Options) (*simProxy, error) {
	cfg := sut.ProxyConfig(sc) // the live proxy's own configuration
	p := &simProxy{cost: opts.ProxyCost, timeout: cfg.Timeout, exchanges: deadlines{event: event{proxyTimeout, 0}}}
	if p.timeout <= 0 {
		p.timeout = proxy.DefaultTimeout
	}
	n := 0
	for _, pc := range sc.SUT.Pools {
		n += len(pc.Backends)
	}
	p.upstreams = make([]balancer.Upstream, n)
	p.loads, p.heard = make([]balancer.Load, n), make([]bool, n)
	next := 0
	for i, pc := range sc.SUT.Pools {
		o := cfg.StrategyOptions
		o.Seed = poolSeed(cfg.Seed, i)
		policy, err := balancer.NewWithOptions(cfg.Strategy, o)
		if err != nil {
			return nil, err
		}
		pl := pool{host: pc.Match.Host, prefix: pc.Match.PathPrefix, policy: policy, needsPath: cfg.Strategy == "consistent-hash"}
		pl.observer, _ = policy.(balancer.Observer)
		for _, b := range pc.Backends {
			u := &p.upstreams[next]
			u.Name, u.Weight = b.Name, max(b.Weight, 1)
			pl.members = append(pl.members, u)
			next++
		}
		p.pools = append(p.pools, pl)
	}
	return p, nil
}

// poolSeed is the seed of pool i's policy, as the live proxy derives it
// from its own seed (the scenario's, for its first replica).
func poolSeed(seed int64, i int) int64 {
	return int64(uint64(seed) + uint64(i)*0x9e3779b97f4a7c15)
}

// newRequest is what the proxy will know of request r of a workload: the
// pool the live proxy's rule routes it to, from the Host the generator
// sends (its own header, or the proxy's address) and its path, and
// whether its body is over the proxy's limit.
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
	return q, nil
}

// route is the live proxy's routing rule: among the pools whose host (if
// set) is the request's, without its port, and whose path prefix starts
// its path, the longest prefix wins, then a pool with a host, then the
// earlier pool; -1 when none matches.
func (p *simProxy) route(host, path string) int32 {
	best := int32(-1)
	for i, pl := range p.pools {
		if pl.host != "" && !strings.EqualFold(pl.host, host) || !strings.HasPrefix(path, pl.prefix) {
			continue
		}
		if b := &p.pools[max(best, 0)]; best < 0 || len(pl.prefix) > len(b.prefix) ||
			len(pl.prefix) == len(b.prefix) && pl.host != "" && b.host == "" {
			best = int32(i)
		}
	}
	return best
}

// stationOf is the station of upstream u, one of p.upstreams: a subtraction
// of addresses, where a map from upstream to station would cost a lookup
// per request.
func (p *simProxy) stationOf(u *balancer.Upstream) int32 {
	return int32((uintptr(unsafe.Pointer(u)) - uintptr(unsafe.Pointer(&p.upstreams[0]))) / unsafe.Sizeof(p.upstreams[0]))
}

// atProxy takes flight id in at the proxy: the proxy answers it itself
// (413 too large, 404 unrouted, 503 no upstream, in the live proxy's
// order), or picks its upstream and forwards it after the proxy's cost.
func (s *sim) atProxy(id int32) {
	p := s.proxy
	f := &s.fs.all[id]
	req := &s.workloads[f.workload].requests[f.request]
	switch {
	case req.tooLarge:
		s.proxyAnswers(id, http.StatusRequestEntityTooLarge)
	case req.pool < 0:
		s.proxyAnswers(id, http.StatusNotFound)
	default:
		pl := &p.pools[req.pool]
		p.breq = balancer.Request{ClientIP: clientIP, Header: req.header, Now: wall(s.cal.now)}
		if pl.needsPath {
			p.breq.Path = req.path
		}
		u := pl.policy.Select(pl.members, &p.breq)
		if u == nil {
			s.proxyAnswers(id, http.StatusServiceUnavailable)
			break
		}
		u.Acquire()
		f.station = p.stationOf(u)
		f.forwarded = s.cal.now + int64(p.cost)
		s.add(&p.exchanges, id, f.forwarded+int64(p.timeout), proxyEnded)
		s.schedule(id, atStation, p.cost+s.net)
	}
	s.fs.release(id)
}

// proxyAnswers answers flight id from the proxy itself, after its cost.
func (s *sim) proxyAnswers(id int32, status int32) {
	f := &s.fs.all[id]
	f.status, f.proxyDone = status, true
	s.schedule(id, clientAnswer, s.proxy.cost+s.net)
}

// proxyAnswer relays a station's answer to the client, unless the proxy
// gave up on it first; the exchange ends: the upstream's count in flight,
// and the policy learns of it.
func (s *sim) proxyAnswer(id int32) {
	f := &s.fs.all[id]
	if !f.proxyDone {
		f.proxyDone = true
		p := s.proxy
		p.loads[f.station] = balancer.Load{Inflight: int(f.loadInflight), Workers: s.stations[f.station].workers, Queue: int(f.loadQueue)}
		p.heard[f.station] = true
		s.endExchange(f, time.Duration(s.cal.now-f.forwarded), f.status >= 500)
		s.hop(id, clientAnswer)
	}
	s.fs.release(id)
}

// proxyTimeout answers 504 for each exchange past the proxy's timeout,
// oldest first. A request the backend still holds in its waiting room
// leaves it, as the live backend's does when the proxy closes the
// connection; one in service is served to its end.
func (s *sim) proxyTimeout() {
	p := s.proxy
	for {
		id, ok := s.due(&p.exchanges, proxyEnded)
		if !ok {
			return
		}
		f := &s.fs.all[id]
		f.proxyDone = true
		if f.queued {
			s.stations[f.station].leave(f)
		}
		s.endExchange(f, p.timeout, true)
		f.status = http.StatusGatewayTimeout
		s.hop(id, clientAnswer)
	}
}

// endExchange ends f's exchange with its upstream after rtt: the
// upstream's count in flight, and the policy's observation, with the
// load the upstream last reported (as the live proxy keeps it).
func (s *sim) endExchange(f *flight, rtt time.Duration, failed bool) {
	p := s.proxy
	u := &p.upstreams[f.station]
	pl := &p.pools[s.workloads[f.workload].requests[f.request].pool]
	if pl.observer != nil {
		o := balancer.Observation{At: wall(s.cal.now), RTT: rtt, Failed: failed}
		if p.heard[f.station] {
			o.Load = &p.loads[f.station]
		}
		pl.observer.Observe(u, o)
	}
	u.Release()
}
