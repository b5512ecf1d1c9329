// Package proxy is the built-in L7 reverse proxy: it routes each request to a
// pool by host and path prefix, picks an upstream of that pool with a
// balancing strategy (package balancer), admits it past the upstream's
// concurrency limit (package admission), and forwards it over a pooled
// keep-alive HTTP/1.1 connection, retrying on another upstream where that
// is safe.
//
// The HTTP/1.1 server and client are the package's own lean implementation
// (pooled buffers, no per-request allocation on the common path) on the
// wire format of internal/http1. On Linux, plain HTTP without an admission
// limit is served by epoll event loops, one per processor (loop_linux.go);
// TLS termination (crypto/tls), admission control and other systems use a
// goroutine per connection (serve.go). Both share the parser, the head
// writers and every per-request rule. Parsing is strict, so that the proxy
// never disagrees with an upstream about where a request ends:
//
//   - Content-Length together with Transfer-Encoding, differing
//     Content-Length values, a Transfer-Encoding other than exactly
//     "chunked", obs-folded or malformed header lines, a bare LF, a missing
//     or repeated Host: 400 Bad Request, and the connection is closed.
//   - A request head over Limits.MaxHeaderBytes: 431. A body over
//     Limits.MaxBodyBytes: 413. An HTTP version other than 1.0 or 1.1: 505.
//   - A client that does not complete its request head within
//     Limits.ReadHeaderTimeout (slowloris) is disconnected.
//   - Hop-by-hop headers (Connection and those it names, Keep-Alive,
//     Proxy-Connection, Proxy-Authorization, Proxy-Authenticate, TE,
//     Trailer, Transfer-Encoding, Upgrade) are not forwarded in either
//     direction, except Connection: Upgrade and Upgrade on a request to
//     switch protocols (a WebSocket handshake) and on its 101 answer, after
//     which the connection is a tunnel (upgrade.go). X-Forwarded-Proto and X-Forwarded-Host
//     are set, replacing the client's; X-Forwarded-For is set to the client's
//     address (appended to the client's own with Config.TrustForwarded).
//   - The upstream gets the upstream's host:port as Host; the path and query
//     are kept.
//
// What a client sees besides the upstream's own answers:
//
//   - Every response that came from or is attributed to an upstream carries
//     X-Ilities-Backend naming it (the upstream's own header if it set one).
//   - 502 Bad Gateway naming the upstream when the exchange failed without a
//     response (refused, reset, closed early), 504 when it did not answer
//     within Config.Timeout.
//   - 503 with Retry-After, naming the upstream, when admission control
//     rejected the request (queue full or queue timeout).
//   - 503 without X-Ilities-Backend when the pool has no available upstream
//     (and AllDown is "fail"), and while the proxy shuts down.
//   - 429 with Retry-After when the client exceeded its rate limit.
//   - 404 when no pool matches.
//
// The proxy's statistics (see Stats) are served as JSON at StatsPath on an
// admin listener of their own, on loopback (Config.Admin, admin.go), not on
// the public port.
package proxy

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/sut/admission"
	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/health"
)

// StatsPath is the path at which the admin listener serves the proxy's
// statistics as JSON. On the public port it is a path like any other.
const StatsPath = "/.ilities/stats"

// Defaults applied by New to zero fields.
const (
	DefaultStrategy          = "round-robin"
	DefaultTimeout           = 30 * time.Second
	DefaultDialTimeout       = time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultUpgradeIdle       = 60 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultMaxBodyBytes      = 64 << 20
	DefaultRetryBudget       = 0.2
	DefaultSessionCookie     = "ilities_session"
	DefaultHealthPath        = "/"
)

// Config describes a proxy. Zero values mean the defaults above or "off".
type Config struct {
	// Strategy is the balancing strategy name (balancer.Names). Default
	// round-robin. Each pool gets its own instance.
	Strategy string
	// StrategyOptions tune the strategy (hash key, cookie name, decay...).
	// Its Seed is ignored: Seed below is used.
	StrategyOptions balancer.Options
	// Seed makes seeded strategies reproducible. The first pool's policy is
	// seeded with Seed itself, later pools with values derived from it.
	Seed int64
	// Timeout bounds the wait for an upstream's response headers. Default 30s.
	Timeout time.Duration
	// DialTimeout bounds connecting to an upstream. Default 1s.
	DialTimeout time.Duration
	// Resolver looks up the upstreams' host names (nil:
	// net.DefaultResolver). A name is looked up when its upstream is
	// created or added, then again every 30s (every second while the
	// lookup fails) off the event loops, which keep the last address
	// meanwhile.
	Resolver *net.Resolver
	// Pools are the routing targets; see PoolConfig for matching.
	Pools []PoolConfig

	// Health configures active health checks; off when Interval is 0.
	Health HealthConfig
	// Passive configures outlier ejection; off when ConsecutiveFailures is 0.
	Passive PassiveConfig
	// AllDown says what happens when every upstream of a pool is
	// unavailable: "fail" (default) answers 503 at once, "panic" balances
	// over all of them anyway, ignoring health.
	AllDown string
	// SlowStart ramps a joining or recovering upstream's weight from 10% to
	// 100% over this long (weighted strategies). 0 disables it.
	SlowStart time.Duration
	// Retries is how many other upstreams a failed request may be retried
	// on: after a connect failure always, after other failures (reset,
	// timeout, 502/503/504 answer) only for idempotent methods without a
	// body. A request with no other upstream left to try gets the
	// failure's own answer (502, 504 or the upstream's 5xx). 0 disables
	// retries.
	Retries int
	// RetryBudget caps retries at this fraction of requests (a token bucket
	// filled by each request). Default 0.2.
	RetryBudget float64
	// Admission configures per-upstream concurrency limits and queueing.
	Admission AdmissionConfig
	// Limits are the hardening limits.
	Limits Limits
	// RateLimit limits each client IP; off when Rate is 0.
	RateLimit RateLimit
	// TLS terminates TLS with a self-signed certificate generated at start.
	TLS bool
	// HTTP2 is HTTP/2 on the front (h2.go): on unless Off.
	HTTP2 HTTP2Config
	// TrustForwarded appends to the client's X-Forwarded-For instead of
	// replacing it.
	TrustForwarded bool
	// Admin is the admin listener's address (statistics at StatsPath): a
	// loopback host:port, default DefaultAdmin (any free port).
	Admin string
	// IO is how the event loops move bytes on Linux: IOUring (default),
	// each iteration's reads and writes batched through io_uring
	// (ring_linux.go), or IOEpoll, a read or write system call for each,
	// which is also what IOUring does where the kernel offers no io_uring.
	// Empty: the environment's IOEnv, else IOUring.
	IO string
}

// HealthConfig is active health checking: every Interval, GET Path on each
// upstream; a check fails on a connection error, a timeout or a status
// outside 200-399. Fall consecutive failures mark it unhealthy, Rise
// consecutive successes healthy again.
type HealthConfig struct {
	Interval, Timeout time.Duration // Timeout default: Interval
	Path              string        // default "/"
	Fall, Rise        int           // defaults 2 and 2
}

// PassiveConfig is outlier ejection, whose rules are health.Passive's.
type PassiveConfig = health.Passive

// AdmissionConfig limits each upstream to MaxInflight requests at once; up
// to Queue more wait at the proxy, at most QueueTimeout each, and the rest
// are rejected with 503 and Retry-After. With SessionAware, requests that
// carry the session cookie (of sessions already admitted) are served before
// new ones, and a full queue drops the newest new-session request to make
// room for one of a known session.
type AdmissionConfig struct {
	MaxInflight   int // 0: no limit
	Queue         int
	QueueTimeout  time.Duration // default 1s
	SessionAware  bool
	SessionCookie string // default "ilities_session"
}

// Limits are the proxy's hardening limits.
type Limits struct {
	MaxHeaderBytes    int           // request line + headers; default 32 KiB
	MaxBodyBytes      int64         // default 64 MiB
	ReadHeaderTimeout time.Duration // default 10s
	IdleTimeout       time.Duration // keep-alive idle; default 60s
	// UpgradeIdleTimeout ends an upgraded connection (a WebSocket...) that
	// carried nothing either way for this long; default 60s.
	UpgradeIdleTimeout time.Duration
}

// RateLimit is a token bucket per client IP, whose rules are
// admission.RateLimit's. Excess gets 429.
type RateLimit = admission.RateLimit

// PoolConfig is one pool. A request matches a pool when its Host (without
// port) equals Host, if Host is set, and its path starts with PathPrefix.
// Among matching pools the longest PathPrefix wins, then a pool with Host
// set, then the earlier pool.
type PoolConfig struct {
	Name       string
	Host       string
	PathPrefix string
	Upstreams  []UpstreamConfig
}

// UpstreamConfig is one upstream of a pool.
type UpstreamConfig struct {
	// Name is the node name, unique within the proxy.
	Name string
	// URL is the upstream's base URL, e.g. "http://127.0.0.1:41234". Only
	// its host and port are used.
	URL string
	// Weight for weighted strategies; 0 means 1.
	Weight int
}

// Proxy is a reverse proxy. Start serves it on its own listener.
type Proxy struct {
	cfg   Config
	pools []*pool

	stats     proxyCounters
	retryTok  atomic.Int64 // retry budget, in thousandths of a retry
	limiter   *admission.RateLimiter
	topoMu    sync.Mutex // serialises membership changes
	events    eventLog
	startedAt time.Time

	closing atomic.Bool // set by Close; read on every request
	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]*clientConn
	serving sync.WaitGroup // connection goroutines

	ln        net.Listener
	h2        *h2Front // nil when HTTP/2 is off
	admin     *adminServer
	scheme    string
	stop      chan struct{} // closed by Close: stops background loops
	loops     sync.WaitGroup
	closeOnce sync.Once
	started   atomic.Bool

	// The event loops (Linux, plain HTTP, no admission limit), their
	// client connections, and the processors they hold.
	evloops      []*loop
	loopClients  atomic.Int64
	releaseProcs func()
	// noLoops keeps the proxy on the goroutine path (set by tests before
	// Start, to compare the two).
	noLoops bool
}

type proxyCounters struct {
	requests, unrouted, unavailable, rateLimited, badRequests atomic.Int64
	retries, retryBudgetExhausted, panicRouted                atomic.Int64
	upgrades                                                  upgradeCounters
	h2Conns, h2Streams                                        atomic.Int64
}

type pool struct {
	cfg     PoolConfig
	policy  balancer.Policy
	observe balancer.Observer // nil unless the policy learns
	sticky  string            // the sticky cookie's name, "" if none
	// needsPath: the policy reads Request.Path (built per request only then).
	needsPath      bool
	hostB, prefixB []byte
	panicRR        atomic.Uint64
	// view is replaced, never mutated, when members join or leave, so the
	// request path reads it without locks.
	view atomic.Pointer[poolView]
}

type poolView struct {
	members []*balancer.Upstream
	byNode  map[*balancer.Upstream]*upstream
}

func (pl *pool) load() *poolView { return pl.view.Load() }

// IO paths of the loops (Config.IO).
const (
	IOEpoll = "epoll"
	IOUring = "uring"
)

// IOEnv names the environment variable that chooses the loops' IO path
// where Config.IO does not.
const IOEnv = "ILITIES_PROXY_IO"

// New validates cfg, applies defaults and builds the proxy.
func New(cfg Config) (*Proxy, error) {
	if err := ApplyDefaults(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Pools) == 0 {
		return nil, errors.New("proxy: no pools")
	}
	p := &Proxy{cfg: cfg, conns: map[net.Conn]*clientConn{}, stop: make(chan struct{}), scheme: "http"}
	if cfg.TLS {
		p.scheme = "https"
	}
	if cfg.RateLimit.Rate > 0 {
		p.limiter = admission.NewRateLimiter(cfg.RateLimit)
	}
	p.retryTok.Store(retryTokenCap)
	names := map[string]bool{}
	for i, pc := range cfg.Pools {
		if pc.Name == "" {
			return nil, fmt.Errorf("proxy: pool %d has no name", i)
		}
		opts := cfg.StrategyOptions
		opts.Seed = deriveSeed(cfg.Seed, i)
		policy, err := balancer.NewWithOptions(cfg.Strategy, opts)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		pl := &pool{cfg: pc, policy: policy, hostB: []byte(pc.Host), prefixB: []byte(pc.PathPrefix)}
		pl.needsPath = cfg.Strategy == "consistent-hash"
		pl.observe, _ = policy.(balancer.Observer)
		if s, ok := policy.(balancer.Sticky); ok {
			pl.sticky = s.CookieName()
		}
		view := &poolView{byNode: map[*balancer.Upstream]*upstream{}}
		for _, uc := range pc.Upstreams {
			if uc.Name == "" {
				return nil, fmt.Errorf("proxy: pool %s: upstream with no name", pc.Name)
			}
			if names[uc.Name] {
				return nil, fmt.Errorf("proxy: pool %s: upstream %q listed twice", pc.Name, uc.Name)
			}
			names[uc.Name] = true
			up, err := p.newUpstream(pl, uc)
			if err != nil {
				return nil, err
			}
			view.members = append(view.members, up.node)
			view.byNode[up.node] = up
		}
		pl.view.Store(view)
		p.pools = append(p.pools, pl)
	}
	return p, nil
}

// ApplyDefaults fills cfg's zero fields with the defaults New applies, and
// checks what New checks of them: a simulation of the proxy reads the same
// configuration.
func ApplyDefaults(cfg *Config) error {
	if cfg.Strategy == "" {
		cfg.Strategy = DefaultStrategy
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	switch cfg.AllDown {
	case "":
		cfg.AllDown = "fail"
	case "fail", "panic":
	default:
		return fmt.Errorf(`proxy: all_down must be "fail" or "panic", got %q`, cfg.AllDown)
	}
	if cfg.RetryBudget <= 0 {
		cfg.RetryBudget = DefaultRetryBudget
	}
	switch cfg.IO = cmp.Or(cfg.IO, os.Getenv(IOEnv), IOUring); cfg.IO {
	case IOEpoll, IOUring:
	default:
		return fmt.Errorf(`proxy: io %q (or $%s): expected %q or %q`, cfg.IO, IOEnv, IOEpoll, IOUring)
	}
	if cfg.Retries < 0 {
		return fmt.Errorf("proxy: negative retries %d", cfg.Retries)
	}
	h := &cfg.Health
	if h.Interval > 0 {
		if h.Timeout <= 0 {
			h.Timeout = h.Interval
		}
		if h.Path == "" {
			h.Path = DefaultHealthPath
		}
		if h.Fall <= 0 {
			h.Fall = health.DefaultFall
		}
		if h.Rise <= 0 {
			h.Rise = health.DefaultRise
		}
	}
	cfg.Passive = cfg.Passive.WithDefaults()
	a := &cfg.Admission
	if a.MaxInflight < 0 || a.Queue < 0 {
		return errors.New("proxy: admission limits must not be negative")
	}
	if a.QueueTimeout <= 0 {
		a.QueueTimeout = time.Second
	}
	if a.SessionCookie == "" {
		a.SessionCookie = DefaultSessionCookie
	}
	l := &cfg.Limits
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.UpgradeIdleTimeout <= 0 {
		l.UpgradeIdleTimeout = DefaultUpgradeIdle
	}
	cfg.RateLimit = cfg.RateLimit.WithDefaults()
	if cfg.HTTP2.MaxConcurrentStreams < 0 {
		return errors.New("proxy: http2 max_concurrent_streams must not be negative")
	}
	if cfg.HTTP2.MaxConcurrentStreams == 0 {
		cfg.HTTP2.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if cfg.Admin == "" {
		cfg.Admin = DefaultAdmin
	}
	if err := CheckLoopback(cfg.Admin); err != nil {
		return fmt.Errorf("proxy: admin address %q: %w", cfg.Admin, err)
	}
	return nil
}

// deriveSeed gives pool i its own seed; pool 0 keeps the configured one.
func deriveSeed(seed int64, i int) int64 {
	return int64(uint64(seed) + uint64(i)*0x9e3779b97f4a7c15)
}

// newUpstream builds an upstream of pool pl from its configuration.
func (p *Proxy) newUpstream(pl *pool, uc UpstreamConfig) (*upstream, error) {
	if uc.Weight < 0 {
		return nil, fmt.Errorf("proxy: pool %s: upstream %s: negative weight %d", pl.cfg.Name, uc.Name, uc.Weight)
	}
	u, err := url.Parse(uc.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("proxy: pool %s: upstream %s: URL %q is not an absolute http URL", pl.cfg.Name, uc.Name, uc.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	up := &upstream{
		p:        p,
		pool:     pl,
		cfg:      uc,
		node:     balancer.NewUpstream(uc.Name, max(uc.Weight, 1)),
		addr:     addr,
		url:      u,
		hostLine: []byte("Host: " + u.Host + "\r\n"),
		nodeLine: []byte(headers.Node + ": " + uc.Name + "\r\n"),
		gate:     newGate(p.cfg.Admission),
		health:   health.NewUpstream(p.healthRules()),
	}
	up.lookup()
	return up, nil
}

// routeBytes returns the pool for a request to host (port allowed) and
// path, or nil.
func (p *Proxy) routeBytes(host, path []byte) *pool {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && !bytes.HasSuffix(host, []byte("]")) {
		host = host[:i]
	}
	host = bytes.TrimSuffix(bytes.TrimPrefix(host, []byte("[")), []byte("]"))
	var best *pool
	for _, pl := range p.pools {
		if len(pl.hostB) > 0 && !bytes.EqualFold(pl.hostB, host) {
			continue
		}
		if !bytes.HasPrefix(path, pl.prefixB) {
			continue
		}
		if best == nil || len(pl.cfg.PathPrefix) > len(best.cfg.PathPrefix) ||
			(len(pl.cfg.PathPrefix) == len(best.cfg.PathPrefix) && pl.cfg.Host != "" && best.cfg.Host == "") {
			best = pl
		}
	}
	return best
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves the proxy there until
// Close, with its statistics on the admin listener (Config.Admin), and starts
// health checking. A proxy is started at most once.
func (p *Proxy) Start(addr string) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("proxy: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	admin, err := startAdmin(p.cfg.Admin, p.Stats)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("proxy: %w", err)
	}
	p.admin = admin
	if p.cfg.TLS {
		cert, err := selfSignedCert()
		if err != nil {
			_ = ln.Close()
			_ = admin.close()
			return fmt.Errorf("proxy: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   p.alpn(),
			MinVersion:   tls.VersionTLS12,
		})
	}
	p.ln = ln
	p.startH2()
	p.startedAt = time.Now()
	if !p.useLoops() || !p.startLoops(ln) {
		p.loops.Add(1)
		go func() {
			defer crash.Guard()
			defer p.loops.Done()
			p.acceptLoop(ln)
		}()
	}
	p.startBackground()
	return nil
}

// useLoops reports whether the configuration is one the event loops serve:
// plain HTTP without an admission limit (whose queue makes requests wait,
// which the goroutine path does).
func (p *Proxy) useLoops() bool {
	return !p.noLoops && !p.cfg.TLS && p.cfg.Admission.MaxInflight == 0 && loopSupported()
}

// Addr is the listen address ("127.0.0.1:41234"), or "" before Start.
func (p *Proxy) Addr() string {
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// URL is the base URL ("http://127.0.0.1:41234", https with TLS), or ""
// before Start.
func (p *Proxy) URL() string {
	if p.ln == nil {
		return ""
	}
	return p.scheme + "://" + p.Addr()
}

// AdminAddr is the admin listener's address ("127.0.0.1:41235"), or ""
// before Start.
func (p *Proxy) AdminAddr() string {
	if p.admin == nil {
		return ""
	}
	return p.admin.addr()
}

// AdminURL is the admin listener's base URL ("http://127.0.0.1:41235"; the
// statistics are at AdminURL() + StatsPath), or "" before Start.
func (p *Proxy) AdminURL() string {
	if p.admin == nil {
		return ""
	}
	return "http://" + p.AdminAddr()
}

// Close stops the proxy: it closes the listener and every client
// connection, which aborts the upstream exchanges in progress, waits until
// no connection is being served, stops health checking and closes idle
// upstream connections. Calling it again does nothing. A closed proxy cannot
// be restarted; build a new one with New (the crash of a proxy replica).
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		p.mu.Lock()
		p.closed = true
		if p.ln != nil {
			err = p.ln.Close()
		}
		if p.admin != nil {
			err = errors.Join(err, p.admin.close())
		}
		p.h2.close()
		for c, cs := range p.conns {
			_ = c.Close()
			if cs != nil {
				if uc := cs.activeUp.Load(); uc != nil {
					_ = uc.c.Close() // abort the exchange in progress
				}
			}
		}
		p.mu.Unlock()
		close(p.stop)
		for _, l := range p.evloops {
			l.wake()
		}
		p.serving.Wait()
		p.loops.Wait()
		for _, l := range p.evloops {
			l.closeFds()
		}
		if p.releaseProcs != nil {
			p.releaseProcs()
		}
		for _, pl := range p.pools {
			for _, up := range pl.load().byNode {
				up.closeIdle()
			}
		}
	})
	return err
}

// seededRand is a per-proxy random source for jitter; not on the hot path.
func seededRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x853c49e6748fea9b))
}
