package proxy

import (
	"bufio"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/sut/balancer"
)

// maxIdlePerUpstream bounds the idle keep-alive connections kept per
// upstream.
const maxIdlePerUpstream = 512

// upstream is one backend of a pool with everything the proxy keeps about
// it: its connection pool, admission gate, health and counters.
type upstream struct {
	p    *Proxy
	pool *pool
	cfg  UpstreamConfig
	node *balancer.Upstream
	addr string // host:port to dial
	url  *url.URL

	hostLine []byte // "Host: ...\r\n"
	nodeLine []byte // "X-Ilities-Backend: name\r\n"

	idleMu sync.Mutex
	idle   []*upConn

	gate     gate
	health   healthState
	counts   upstreamCounters
	draining atomic.Bool
	latency  ewmaGauge
	load     atomic.Pointer[balancer.Load] // last reported load
	// resolved is the address the event loops dial.
	resolved atomic.Pointer[resolvedAddr]
}

type resolvedAddr struct {
	addr    netip.AddrPort
	ok      bool
	literal bool // an IP address: never looked up
	at      time.Time
}

// resolve returns the address the event loops dial: an IP address as it
// is; a name's first address, looked up again after resolveFor (after a
// second when the lookup failed).
func (u *upstream) resolve(now time.Time) (netip.AddrPort, bool) {
	r := u.resolved.Load()
	if r != nil && (r.literal || now.Sub(r.at) < resolveFor || (!r.ok && now.Sub(r.at) < time.Second)) {
		return r.addr, r.ok
	}
	next := &resolvedAddr{at: now}
	if ap, err := netip.ParseAddrPort(u.addr); err == nil {
		next.addr, next.ok, next.literal = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true, true
	} else if a, err := net.ResolveTCPAddr("tcp", u.addr); err == nil && a.IP != nil {
		ap := a.AddrPort()
		next.addr, next.ok = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	u.resolved.Store(next)
	return next.addr, next.ok
}

// resolveFor is how long the event loops keep a name's address.
const resolveFor = 30 * time.Second

type upstreamCounters struct {
	requests, responses                             atomic.Int64
	connectFailures, resets, timeouts, status5xx    atomic.Int64
	rejectedFull, rejectedTimeout, retriesFrom      atomic.Int64
	healthChanges, ejections, activeCheckFailures   atomic.Int64
	evictedNewSessions, protocolErrors, bytesToUser atomic.Int64
}

// upConn is one keep-alive connection to an upstream.
type upConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// getConn returns an idle connection (reused=true) or dials a new one.
func (u *upstream) getConn() (uc *upConn, reused bool, err error) {
	u.idleMu.Lock()
	if n := len(u.idle); n > 0 {
		uc = u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		u.idleMu.Unlock()
		return uc, true, nil
	}
	u.idleMu.Unlock()
	uc, err = u.dial()
	return uc, false, err
}

func (u *upstream) dial() (*upConn, error) {
	c, err := net.DialTimeout("tcp", u.addr, u.p.cfg.DialTimeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &upConn{c: c, br: bufio.NewReaderSize(c, 8<<10), bw: bufio.NewWriterSize(c, 8<<10)}, nil
}

// putConn returns a healthy, fully read connection to the idle pool.
func (u *upstream) putConn(uc *upConn) {
	if u.draining.Load() {
		_ = uc.c.Close()
		return
	}
	u.idleMu.Lock()
	if len(u.idle) < maxIdlePerUpstream {
		u.idle = append(u.idle, uc)
		uc = nil
	}
	u.idleMu.Unlock()
	if uc != nil {
		_ = uc.c.Close()
	}
}

func (u *upstream) closeIdle() {
	u.idleMu.Lock()
	idle := u.idle
	u.idle = nil
	u.idleMu.Unlock()
	for _, uc := range idle {
		_ = uc.c.Close()
	}
}

// ewmaGauge is a latency average for the stats (independent of the
// strategy): each sample moves it 10% of the way.
type ewmaGauge struct {
	nanos atomic.Int64
}

func (g *ewmaGauge) observe(d time.Duration) {
	for {
		old := g.nanos.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/10
		}
		if g.nanos.CompareAndSwap(old, next) {
			return
		}
	}
}

func (g *ewmaGauge) get() time.Duration { return time.Duration(g.nanos.Load()) }
