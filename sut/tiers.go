package sut

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
	"github.com/ilities/ilities/sut/balancer"
)

// Tiers: the pools that other pools call (scenario calls:). The proxy
// routes to none of them. Each backend of a calling pool has a client of
// each pool it calls (tierClient, its backend.Downstream): the called
// pool's strategy over its backends, picked by the caller as a
// client-side balancer does, at most its connections at once, and plain
// HTTP over loopback. There are no health checks between tiers: a caller
// keeps sending to a crashed node, and those calls fail, except a
// database's, whose own view of its nodes takes them out (database.go).

// tier is a pool other pools call: its members as its callers see them.
type tier struct {
	pool        string
	strategy    string
	connections int // per caller; 0: the caller's workers
	seed        int64
	db          *database // nil unless the pool is a database

	mu      sync.Mutex
	members []member
	clients []*tierClient
	calls   map[string]*nodeCalls // every member's, removed ones too
}

type member struct {
	name, url string
	weight    int
}

// nodeCalls are the calls the callers sent a node, those that failed there
// (refused, timed out, 5xx), and those in progress.
type nodeCalls struct{ sent, failed, inflight atomic.Int64 }

func newTier(p scenario.Pool, seed int64) *tier {
	t := &tier{pool: p.Name, strategy: p.Strategy, connections: p.Connections, seed: seed, calls: map[string]*nodeCalls{}}
	if t.strategy == "" {
		t.strategy = scenario.DefaultStrategy
	}
	if p.Database != nil {
		t.db = newDatabase(p)
	}
	return t
}

// TierSeed is the seed of the balancing policy that the backend caller
// uses over the pool it calls, in a scenario with the given seed.
func TierSeed(seed int64, caller, pool string) int64 {
	return BackendSeed(seed, caller+"\x00calls\x00"+pool)
}

// client returns a new client of the tier for the backend caller, which
// has workers workers.
func (t *tier) client(caller string, workers int) (*tierClient, error) {
	policy, err := balancer.New(t.strategy, TierSeed(t.seed, caller, t.pool))
	if err != nil {
		return nil, err
	}
	conns := t.connections
	if conns <= 0 {
		conns = max(workers, 1)
	}
	c := &tierClient{
		tier:   t,
		caller: caller,
		policy: policy,
		conns:  make(chan struct{}, conns),
		// A transport of its own: the caller's connections to this tier,
		// never an environment's proxy.
		transport: &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true, IdleConnTimeout: 90 * time.Second},
		targets:   map[string]target{},
	}
	c.observer, _ = policy.(balancer.Observer)
	c.http = &http.Client{Transport: c.transport}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.members {
		c.add(m, t.calls[m.name])
	}
	t.clients = append(t.clients, c)
	return c, nil
}

// add makes a started backend a member of the tier: every caller may pick
// it from now on.
func (t *tier) add(m member) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.members = append(t.members, m)
	if t.calls[m.name] == nil {
		t.calls[m.name] = &nodeCalls{}
	}
	for _, c := range t.clients {
		c.add(m, t.calls[m.name])
	}
	if t.db != nil {
		t.db.add(m.name)
	}
}

// remove takes a member out: no caller picks it any more; calls already
// sent to it go on.
func (t *tier) remove(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.members = slices.DeleteFunc(t.members, func(m member) bool { return m.name == name })
	for _, c := range t.clients {
		c.remove(name)
	}
	if t.db != nil {
		t.db.remove(name)
	}
}

// drain waits until no call to node is in progress, for up to within, as
// the proxy drains an upstream it removes.
func (t *tier) drain(node string, within time.Duration) {
	calls := t.node(node)
	for deadline := time.Now().Add(within); calls.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// node returns the calls sent to node (a zero count for a node of
// another pool).
func (t *tier) node(name string) *nodeCalls {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.calls[name]; c != nil {
		return c
	}
	return &nodeCalls{}
}

func (t *tier) resetStats() {
	t.mu.Lock()
	for _, c := range t.calls {
		c.sent.Store(0)
		c.failed.Store(0)
	}
	t.mu.Unlock()
	if t.db != nil {
		t.db.resetStats()
	}
}

func (t *tier) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.clients {
		c.transport.CloseIdleConnections()
	}
	if t.db != nil {
		t.db.close()
	}
}

// tierClient is one backend's client of one tier: the backend.Downstream
// its calls to that pool go through.
type tierClient struct {
	tier      *tier
	caller    string
	policy    balancer.Policy
	observer  balancer.Observer // the policy, when it learns from exchanges
	conns     chan struct{}     // a slot per connection the caller may keep
	transport *http.Transport
	http      *http.Client

	mu      sync.Mutex
	ups     []*balancer.Upstream // the tier's members, in its order
	targets map[string]target    // by member name
}

// target is where a member is called, and its counts.
type target struct {
	url   string
	calls *nodeCalls
}

var _ backend.Downstream = (*tierClient)(nil)

// Call waits for a connection (holding the caller's worker), picks a node
// of the tier, and sends it the call. A database sends a write to its
// primary and a read to its replicas, and refuses a write while its
// primary is down.
func (c *tierClient) Call(ctx context.Context, write bool) (string, bool) {
	select {
	case c.conns <- struct{}{}:
	case <-ctx.Done():
		return c.tier.pool, false
	}
	defer func() { <-c.conns }()
	u, to := c.pick(write)
	if u == nil {
		return c.tier.pool, false
	}
	return c.exchange(ctx, u, to, write)
}

// pick chooses the node of this call, or nil when none may take it.
func (c *tierClient) pick(write bool) (*balancer.Upstream, target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pool := c.ups
	if db := c.tier.db; db != nil {
		if write {
			primary, ok := db.writer()
			i := slices.IndexFunc(c.ups, func(u *balancer.Upstream) bool { return u.Name == primary })
			if !ok || i < 0 {
				return nil, target{}
			}
			return c.ups[i], c.targets[primary]
		}
		pool = db.readers(c.ups)
	}
	// The caller's name stands for its address: a hashing strategy keeps
	// each caller to its node.
	u := c.policy.Select(pool, &balancer.Request{ClientIP: c.caller, Path: "/", Now: time.Now()})
	if u == nil {
		return nil, target{}
	}
	return u, c.targets[u.Name]
}

// exchange sends one call to u and reads its answer, feeding the policy's
// gauges (requests in flight, and what it learns from each exchange).
func (c *tierClient) exchange(ctx context.Context, u *balancer.Upstream, to target, write bool) (string, bool) {
	counts := to.calls
	counts.sent.Add(1)
	counts.inflight.Add(1)
	u.Acquire()
	began := time.Now()
	failedTier, load, ok := c.send(ctx, to.url)
	u.Release()
	counts.inflight.Add(-1)
	if c.observer != nil {
		c.observer.Observe(u, balancer.Observation{At: time.Now(), RTT: time.Since(began), Failed: !ok, Load: load})
	}
	if !ok {
		counts.failed.Add(1)
	}
	if db := c.tier.db; db != nil {
		db.answered(u.Name, write, ok)
	}
	return failedTier, ok
}

// send makes the HTTP request of a call. A failure started in this tier
// unless the answer names the pool below where it did.
func (c *tierClient) send(ctx context.Context, url string) (failedTier string, load *balancer.Load, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		return c.tier.pool, nil, false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.tier.pool, nil, false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if l, found := balancer.ParseLoad([]byte(resp.Header.Get(headers.Load))); found {
		load = &l
	}
	switch {
	case resp.StatusCode >= 500:
		if below := resp.Header.Get(headers.FailedTier); below != "" {
			return below, load, false
		}
		return c.tier.pool, load, false
	case err != nil: // a cut answer
		return c.tier.pool, load, false
	}
	return "", load, true
}

// add and remove change the members the client picks from. Called with
// the tier's lock held.
func (c *tierClient) add(m member, calls *nodeCalls) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ups = append(c.ups, balancer.NewUpstream(m.name, m.weight))
	c.targets[m.name] = target{url: m.url, calls: calls}
}

func (c *tierClient) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ups = slices.DeleteFunc(c.ups, func(u *balancer.Upstream) bool { return u.Name == name })
	delete(c.targets, name)
}
