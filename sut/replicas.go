package sut

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ilities/ilities/internal/porthold"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/proxy"
)

// replica is one proxy instance of the topology. All replicas front the same
// backends; each has its own balancer, health and admission state.
type replica struct {
	mu     sync.Mutex
	p      *proxy.Proxy
	addr   string // the listen address, kept across a crash
	url    string
	admin  string // the admin listener's address, kept across a crash
	cfg    proxy.Config
	down   bool
	held   []*porthold.Holder // while down: its addresses, kept from other servers
	killed []proxy.Stats      // counters of crashed incarnations
}

// ProxyConfig translates the scenario's proxy settings (everything except
// the pools) into the proxy's configuration.
func ProxyConfig(s *scenario.Scenario) proxy.Config { return ProxyConfigOf(s.Seed, s.SUT.Proxy) }

// ProxyConfigOf translates a scenario's sut.proxy, seeded with seed, into
// the proxy's configuration (without pools).
func ProxyConfigOf(seed int64, sp scenario.Proxy) proxy.Config {
	o := sp.ProxyOptions
	pc := proxy.Config{
		Strategy: sp.Strategy,
		Seed:     seed,
		Timeout:  sp.Timeout.D(),
		StrategyOptions: balancer.Options{
			HashKey:     o.Hash.Key,
			HashMethod:  o.Hash.Method,
			BoundedLoad: o.Hash.BoundedLoad,
			CookieName:  o.Cookie,
			Decay:       o.EWMA.Decay.D(),
			DefaultRTT:  o.EWMA.DefaultRTT.D(),
		},
		AllDown:        o.AllDown,
		SlowStart:      o.SlowStart.D(),
		Retries:        o.Retries,
		RetryBudget:    o.RetryBudget.Fraction(),
		TLS:            o.TLS,
		HTTP2:          proxy.HTTP2Config{Off: o.HTTP2.Disabled, MaxConcurrentStreams: o.HTTP2.MaxConcurrentStreams},
		TrustForwarded: o.TrustForwarded,
		Admin:          o.Admin,
		Limits: proxy.Limits{
			MaxHeaderBytes:     int(o.Limits.MaxHeaderBytes),
			MaxBodyBytes:       int64(o.Limits.MaxBodyBytes),
			ReadHeaderTimeout:  o.Limits.ReadHeaderTimeout.D(),
			IdleTimeout:        o.Limits.IdleTimeout.D(),
			UpgradeIdleTimeout: o.Limits.UpgradeIdleTimeout.D(),
		},
	}
	if h := o.Health; h != nil {
		pc.Health = proxy.HealthConfig{Interval: h.Interval.D(), Timeout: h.Timeout.D(), Path: h.Path, Fall: h.Fall, Rise: h.Rise}
	}
	if ps := o.Passive; ps != nil {
		pc.Passive = proxy.PassiveConfig{
			ConsecutiveFailures: ps.ConsecutiveFailures,
			EjectFor:            ps.EjectFor.D(),
			MaxEjectFor:         ps.MaxEjectFor.D(),
			MaxEjectedPercent:   int(ps.MaxEjectedPercent.Fraction()*100 + 0.5),
		}
	}
	if a := o.Admission; a != nil {
		pc.Admission = proxy.AdmissionConfig{
			MaxInflight: a.MaxInflight, Queue: a.Queue, QueueTimeout: a.QueueTimeout.D(),
			SessionAware: a.SessionAware, SessionCookie: a.SessionCookie,
		}
	}
	if r := o.RateLimit; r != nil {
		pc.RateLimit = proxy.RateLimit{Rate: r.Rate.PerSecond(), Burst: r.Burst}
	}
	return pc
}

// startReplicas starts n proxy replicas with cfg: the first on listen, the
// others on the same host with a free port (or port 0 when listen has one).
// Each has an admin listener of its own, placed the same way from
// cfg.Admin, so every replica's statistics stay readable apart.
// Replica i's strategies are seeded from the scenario seed and i.
func (t *Topology) startReplicas(cfg proxy.Config, listen string, n int) error {
	n = max(n, 1)
	for i := range n {
		rc := cfg
		rc.Seed = ReplicaSeed(cfg.Seed, i)
		p, err := proxy.New(rc)
		if err != nil {
			return fmt.Errorf("sut: %w", err)
		}
		addr := listen
		if i > 0 {
			addr = anyPort(listen)
			if rc.Admin != "" {
				rc.Admin = anyPort(rc.Admin)
			}
		}
		if err := p.Start(addr); err != nil {
			return fmt.Errorf("sut: proxy replica %d: %w", i, err)
		}
		r := &replica{p: p, addr: p.Addr(), url: p.URL(), admin: p.AdminAddr(), cfg: rc}
		t.replicas = append(t.replicas, r)
		if i == 0 {
			t.proxy = p
		}
	}
	return nil
}

// ReplicaSeed is proxy replica i's seed, from which its strategies are
// seeded: the scenario's seed for the first, values derived from it for the
// others.
func ReplicaSeed(seed int64, i int) int64 {
	if i == 0 {
		return seed
	}
	return int64(splitmix64(uint64(seed) + uint64(i)))
}

// anyPort keeps listen's host with port 0.
func anyPort(listen string) string {
	for i := len(listen) - 1; i >= 0; i-- {
		if listen[i] == ':' {
			return listen[:i] + ":0"
		}
	}
	return defaultListen
}

// URLs are the base URLs of every proxy replica, in order. A crashed
// replica keeps its URL (nothing answers there until it restarts).
func (t *Topology) URLs() []string {
	if t.ext != nil {
		return []string{t.ext.URL()}
	}
	out := make([]string, len(t.replicas))
	for i, r := range t.replicas {
		out[i] = r.url
	}
	return out
}

// AdminURLs are the base URLs of every proxy replica's admin listener, in
// order (statistics at proxy.StatsPath under each); none in hybrid mode. A
// crashed replica keeps its URL.
func (t *Topology) AdminURLs() []string {
	out := make([]string, len(t.replicas))
	for i, r := range t.replicas {
		out[i] = "http://" + r.admin
	}
	return out
}

// Proxies returns the running proxy replicas (crashed ones are skipped), for
// changes that must reach every replica, such as adding a backend.
func (t *Topology) Proxies() []*proxy.Proxy {
	var out []*proxy.Proxy
	for _, r := range t.replicas {
		r.mu.Lock()
		if !r.down {
			out = append(out, r.p)
		}
		r.mu.Unlock()
	}
	return out
}

// Replicas is the number of proxy replicas.
func (t *Topology) Replicas() int { return len(t.replicas) }

// ReplicaStats returns each replica's statistics, in order; a crashed
// replica reports its counters at the crash, with no upstream in flight.
func (t *Topology) ReplicaStats() []proxy.Stats {
	out := make([]proxy.Stats, len(t.replicas))
	for i, r := range t.replicas {
		r.mu.Lock()
		out[i] = r.p.Stats()
		r.mu.Unlock()
	}
	return out
}

// upstreamTotals sums every replica's per-upstream counters by name.
func (t *Topology) upstreamTotals() map[string]proxy.UpstreamStats {
	if t.ext != nil {
		return t.externalTotals()
	}
	out := map[string]proxy.UpstreamStats{}
	for _, s := range t.ReplicaStats() {
		for _, u := range s.Upstreams {
			sum, ok := out[u.Name]
			if !ok {
				out[u.Name] = u
				continue
			}
			sum.Requests += u.Requests
			sum.Responses += u.Responses
			sum.Failures += u.Failures
			sum.Inflight += u.Inflight
			sum.Queued += u.Queued
			out[u.Name] = sum
		}
	}
	return out
}

// CrashProxy stops replica i abruptly: its listener and connections close,
// requests in progress there fail. It reports an error for an unknown
// replica or one already down.
func (t *Topology) CrashProxy(i int) error {
	if i < 0 || i >= len(t.replicas) {
		return fmt.Errorf("no proxy replica %d (there are %d)", i, len(t.replicas))
	}
	r := t.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return fmt.Errorf("proxy replica %d is already down", i)
	}
	r.down = true
	err := r.p.Close()
	for _, addr := range []string{r.addr, r.admin} {
		if h, herr := porthold.Hold(addr); herr == nil {
			r.held = append(r.held, h)
		}
	}
	return err
}

// release gives a down replica's addresses back, to listen on again.
func (r *replica) release() {
	for _, h := range r.held {
		h.Release()
	}
	r.held = nil
}

// RestartProxy starts a crashed replica again on its old address, with
// fresh state (a crash loses balancer and health state) and the backends the
// topology has now.
func (t *Topology) RestartProxy(i int) error {
	if i < 0 || i >= len(t.replicas) {
		return fmt.Errorf("no proxy replica %d (there are %d)", i, len(t.replicas))
	}
	r := t.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down {
		return errors.New("proxy replica is running")
	}
	cfg := r.cfg
	pools := make([]proxy.PoolConfig, len(cfg.Pools))
	for k, pc := range cfg.Pools {
		pc.Upstreams = nil
		for _, n := range t.snapshot() {
			if n.pool == pc.Name && !t.isRemoved(n) {
				pc.Upstreams = append(pc.Upstreams, proxy.UpstreamConfig{Name: n.backend.Name(), URL: n.backend.URL(), Weight: n.weight})
			}
		}
		pools[k] = pc
	}
	cfg.Pools = pools
	cfg.Admin = r.admin
	r.release()
	p, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	if err := p.Start(r.addr); err != nil {
		return err
	}
	r.p, r.down = p, false
	return nil
}

// closeProxies stops every replica.
func (t *Topology) closeProxies() []error {
	var errs []error
	for _, r := range t.replicas {
		r.mu.Lock()
		errs = append(errs, r.p.Close())
		r.release()
		r.mu.Unlock()
	}
	return errs
}

func (t *Topology) resetProxyStats() {
	for _, r := range t.replicas {
		r.mu.Lock()
		r.p.ResetStats()
		r.mu.Unlock()
	}
}
