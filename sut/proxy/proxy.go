// Package proxy is the built-in L7 reverse proxy: it routes each request to a
// pool, picks an upstream of that pool with a balancing strategy (package
// balancer), and forwards the request with net/http/httputil.ReverseProxy.
//
// What a client sees:
//
//   - The upstream's response, status, headers and body, passed through.
//     Responses always carry X-Ilities-Backend naming the upstream that
//     answered (the backend's own header, or the upstream's configured name
//     when the upstream does not set it).
//   - 502 Bad Gateway with X-Ilities-Backend: <upstream> when the exchange
//     with the chosen upstream failed without a response (connection
//     refused, reset, closed early), so failures can still be attributed to
//     a node.
//   - 504 Gateway Timeout with X-Ilities-Backend: <upstream> when the
//     upstream did not start answering within Config.Timeout.
//   - 503 Service Unavailable, without X-Ilities-Backend, when the matching
//     pool has no available upstream (empty, or every member unhealthy), and
//     while the proxy is shutting down.
//   - 404 Not Found, without X-Ilities-Backend, when no pool matches the
//     request.
//
// Requests are forwarded with the upstream's host as Host and with
// X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto set; the path and
// query are kept. Connections to upstreams are HTTP/1.1 keep-alive, pooled
// per upstream.
//
// A request counts as in flight at its upstream (balancer.Upstream.Inflight,
// which least-connections reads) from its selection until its response has
// been copied to the client or the exchange failed.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/sut/balancer"
)

// NodeHeader is the response header naming the upstream (node) that answered
// or failed. It has the same value as backend.NodeHeader.
const NodeHeader = "X-Ilities-Backend"

// Defaults applied by New to zero fields.
const (
	DefaultStrategy    = "round-robin"
	DefaultTimeout     = 30 * time.Second
	DefaultDialTimeout = time.Second
)

// Config describes a proxy.
type Config struct {
	// Strategy is the balancing strategy name (balancer.Names). Default
	// round-robin. Each pool gets its own instance.
	Strategy string
	// Seed makes seeded strategies reproducible. The first pool's policy is
	// seeded with Seed itself, later pools with values derived from it.
	Seed int64
	// Timeout bounds the wait for an upstream's response headers. Default 30s.
	Timeout time.Duration
	// DialTimeout bounds connecting to an upstream. Default 1s.
	DialTimeout time.Duration
	// Pools are the routing targets; see PoolConfig for matching.
	Pools []PoolConfig
}

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
	// Name is the node name, unique within the pool.
	Name string
	// URL is the upstream's base URL, e.g. "http://127.0.0.1:41234".
	URL string
	// Weight for weighted strategies; 0 means 1.
	Weight int
}

// Proxy is a reverse proxy. It is an http.Handler; Start also serves it on
// its own listener.
type Proxy struct {
	cfg       Config
	pools     []*pool
	transport *http.Transport

	unrouted    atomic.Int64
	unavailable atomic.Int64

	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup

	srv       *http.Server
	ln        net.Listener
	serveDone chan struct{}
	closeOnce sync.Once
	started   atomic.Bool
}

type pool struct {
	cfg     PoolConfig
	policy  balancer.Policy
	members []*balancer.Upstream
	byNode  map[*balancer.Upstream]*upstream
}

type upstream struct {
	node   *balancer.Upstream
	pool   string
	url    *url.URL
	rp     *httputil.ReverseProxy
	counts counters
}

type counters struct {
	requests, failures, timeouts, status5xx atomic.Int64
}

// New validates cfg, applies defaults and builds the proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Strategy == "" {
		cfg.Strategy = DefaultStrategy
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if len(cfg.Pools) == 0 {
		return nil, errors.New("proxy: no pools")
	}
	p := &Proxy{cfg: cfg}
	p.transport = &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		// A non-nil empty map keeps upstream connections on HTTP/1.1.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	discard := log.New(io.Discard, "", 0)
	for i, pc := range cfg.Pools {
		if pc.Name == "" {
			return nil, fmt.Errorf("proxy: pool %d has no name", i)
		}
		policy, err := balancer.New(cfg.Strategy, deriveSeed(cfg.Seed, i))
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		pl := &pool{cfg: pc, policy: policy, byNode: map[*balancer.Upstream]*upstream{}}
		seen := map[string]bool{}
		for _, uc := range pc.Upstreams {
			if uc.Name == "" {
				return nil, fmt.Errorf("proxy: pool %s: upstream with no name", pc.Name)
			}
			if seen[uc.Name] {
				return nil, fmt.Errorf("proxy: pool %s: upstream %q listed twice", pc.Name, uc.Name)
			}
			seen[uc.Name] = true
			if uc.Weight < 0 {
				return nil, fmt.Errorf("proxy: pool %s: upstream %s: negative weight %d", pc.Name, uc.Name, uc.Weight)
			}
			u, err := url.Parse(uc.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("proxy: pool %s: upstream %s: URL %q is not an absolute http(s) URL", pc.Name, uc.Name, uc.URL)
			}
			up := &upstream{node: balancer.NewUpstream(uc.Name, max(uc.Weight, 1)), pool: pc.Name, url: u}
			up.rp = &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(up.url)
					pr.SetXForwarded()
				},
				Transport:      p.transport,
				ErrorLog:       discard, // failures are counted and answered, not logged
				ModifyResponse: up.modifyResponse,
				ErrorHandler:   up.errorHandler,
			}
			pl.members = append(pl.members, up.node)
			pl.byNode[up.node] = up
		}
		p.pools = append(p.pools, pl)
	}
	return p, nil
}

// deriveSeed gives pool i its own seed; pool 0 keeps the configured one.
func deriveSeed(seed int64, i int) int64 {
	return int64(uint64(seed) + uint64(i)*0x9e3779b97f4a7c15)
}

func (u *upstream) modifyResponse(resp *http.Response) error {
	if resp.Header.Get(NodeHeader) == "" {
		resp.Header.Set(NodeHeader, u.node.Name)
	}
	if resp.StatusCode >= 500 {
		u.counts.status5xx.Add(1)
	}
	return nil
}

func (u *upstream) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set(NodeHeader, u.node.Name)
	if r.Context().Err() != nil {
		// The client went away; nobody reads this answer and the upstream
		// is not to blame.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	u.counts.failures.Add(1)
	if isTimeout(err) {
		u.counts.timeouts.Add(1)
		http.Error(w, "upstream "+u.node.Name+" timed out", http.StatusGatewayTimeout)
		return
	}
	http.Error(w, "upstream "+u.node.Name+" failed", http.StatusBadGateway)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// ServeHTTP routes, balances and forwards one request as described in the
// package documentation.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		http.Error(w, "proxy shutting down", http.StatusServiceUnavailable)
		return
	}
	p.handlers.Add(1)
	p.mu.Unlock()
	defer p.handlers.Done()

	pl := p.route(r)
	if pl == nil {
		p.unrouted.Add(1)
		http.Error(w, "no pool matches this request", http.StatusNotFound)
		return
	}
	node := pl.policy.Select(pl.members, &balancer.Request{ClientIP: clientIP(r), Key: r.URL.Path, Header: r.Header})
	if node == nil {
		p.unavailable.Add(1)
		http.Error(w, "no upstream available in pool "+pl.cfg.Name, http.StatusServiceUnavailable)
		return
	}
	up := pl.byNode[node]
	up.counts.requests.Add(1)
	node.Acquire()
	defer node.Release()
	up.rp.ServeHTTP(w, r)
}

// route returns the pool for r, or nil.
func (p *Proxy) route(r *http.Request) *pool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	var best *pool
	for _, pl := range p.pools {
		if pl.cfg.Host != "" && !strings.EqualFold(pl.cfg.Host, host) {
			continue
		}
		if !strings.HasPrefix(r.URL.Path, pl.cfg.PathPrefix) {
			continue
		}
		if best == nil || len(pl.cfg.PathPrefix) > len(best.cfg.PathPrefix) ||
			(len(pl.cfg.PathPrefix) == len(best.cfg.PathPrefix) && pl.cfg.Host != "" && best.cfg.Host == "") {
			best = pl
		}
	}
	return best
}

func clientIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// Stats is a snapshot of the proxy's counters.
type Stats struct {
	// Unrouted counts 404s (no pool matched); Unavailable counts 503s (the
	// pool had no available upstream).
	Unrouted, Unavailable int64
	Upstreams             []UpstreamStats
}

// UpstreamStats are one upstream's counters.
type UpstreamStats struct {
	Pool, Name, URL string
	Weight          int
	Healthy         bool
	// Inflight is the number of requests at the upstream now.
	Inflight int64
	// Requests counts requests forwarded to the upstream.
	Requests int64
	// Failures counts exchanges that ended without a response (answered 502
	// or 504); Timeouts is the part of them that timed out (504).
	Failures, Timeouts int64
	// Status5xx counts responses from the upstream with a 5xx status.
	Status5xx int64
}

// Stats returns the counters since New or the last ResetStats, upstreams in
// configuration order.
func (p *Proxy) Stats() Stats {
	s := Stats{Unrouted: p.unrouted.Load(), Unavailable: p.unavailable.Load()}
	for _, pl := range p.pools {
		for _, node := range pl.members {
			up := pl.byNode[node]
			s.Upstreams = append(s.Upstreams, UpstreamStats{
				Pool:      pl.cfg.Name,
				Name:      node.Name,
				URL:       up.url.String(),
				Weight:    node.Weight,
				Healthy:   node.Healthy(),
				Inflight:  node.Inflight(),
				Requests:  up.counts.requests.Load(),
				Failures:  up.counts.failures.Load(),
				Timeouts:  up.counts.timeouts.Load(),
				Status5xx: up.counts.status5xx.Load(),
			})
		}
	}
	return s
}

// ResetStats zeroes the counters (not the in-flight gauges).
func (p *Proxy) ResetStats() {
	p.unrouted.Store(0)
	p.unavailable.Store(0)
	for _, pl := range p.pools {
		for _, up := range pl.byNode {
			up.counts.requests.Store(0)
			up.counts.failures.Store(0)
			up.counts.timeouts.Store(0)
			up.counts.status5xx.Store(0)
		}
	}
}

// SetHealthy marks every upstream called name (in any pool) healthy or not;
// unhealthy upstreams are never selected. It reports whether any upstream
// has that name.
func (p *Proxy) SetHealthy(name string, ok bool) bool {
	found := false
	for _, pl := range p.pools {
		for _, node := range pl.members {
			if node.Name == name {
				node.SetHealthy(ok)
				found = true
			}
		}
	}
	return found
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves the proxy there until
// Close. A proxy is started at most once.
func (p *Proxy) Start(addr string) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("proxy: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	p.ln = ln
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.serveDone = make(chan struct{})
	go func() {
		defer close(p.serveDone)
		_ = p.srv.Serve(ln)
	}()
	return nil
}

// Addr is the listen address ("127.0.0.1:41234"), or "" before Start.
func (p *Proxy) Addr() string {
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// URL is the base URL ("http://127.0.0.1:41234"), or "" before Start.
func (p *Proxy) URL() string {
	if p.ln == nil {
		return ""
	}
	return "http://" + p.Addr()
}

// Close stops the proxy: it closes the listener and every client
// connection, which aborts the upstream exchanges in progress, waits until
// no request handler is running, and closes idle upstream connections.
// Calling it again does nothing.
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		if p.srv != nil {
			err = p.srv.Close()
			<-p.serveDone
		}
		p.handlers.Wait()
		p.transport.CloseIdleConnections()
	})
	return err
}
