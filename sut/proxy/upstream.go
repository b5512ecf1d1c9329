package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/health"
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

	gate gate
	// health is changed under healthMu; its lock-free reads (ejected,
	// draining, slow start) are safe without it.
	healthMu  sync.Mutex
	health    *health.Upstream
	checkStop chan struct{} // closed when the upstream leaves
	counts    upstreamCounters
	latency   ewmaGauge
	load      atomic.Pointer[balancer.Load] // last reported load
	// resolved is the address the event loops dial; resolving is set while
	// a lookup of it runs.
	resolved  atomic.Pointer[resolvedAddr]
	resolving atomic.Bool
}

type resolvedAddr struct {
	addr    netip.AddrPort
	ok      bool
	literal bool // an IP address: never looked up
	at      time.Time
}

// resolve returns the address the event loops dial: an IP address as it
// is; a name's address as last looked up. It never looks a name up on the
// calling loop, where a slow lookup would stall every connection the loop
// serves: once the address is older than resolveFor (a second when the
// lookup failed), it starts a lookup on a goroutine of its own and answers
// with the address it has until the new one is in.
func (u *upstream) resolve(now time.Time) (netip.AddrPort, bool) {
	r := u.resolved.Load()
	age := now.Sub(r.at)
	if !r.literal && (age >= resolveFor || (!r.ok && age >= time.Second)) && u.resolving.CompareAndSwap(false, true) {
		go func() {
			defer crash.Guard()
			defer u.resolving.Store(false)
			u.lookup()
		}()
	}
	return r.addr, r.ok
}

// lookup finds the upstream's address (an IP address as it is, a name
// through Config.Resolver) and keeps it for the event loops. newUpstream
// calls it on its caller's goroutine, so that a loop has an address from
// the first request.
func (u *upstream) lookup() {
	next := &resolvedAddr{}
	if ap, err := netip.ParseAddrPort(u.addr); err == nil {
		next.addr, next.ok, next.literal = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true, true
	} else if ap, err := lookupAddrPort(u.p.cfg.Resolver, u.addr); err == nil {
		next.addr, next.ok = ap, true
	}
	next.at = time.Now()
	u.resolved.Store(next)
}

// lookupAddrPort resolves host:port with r (nil: net.DefaultResolver) to
// the address net.ResolveTCPAddr would pick: the first IPv4 address, else
// the first.
func lookupAddrPort(r *net.Resolver, hostport string) (netip.AddrPort, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	host, service, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveFor)
	defer cancel()
	port, err := r.LookupPort(ctx, "tcp", service)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no address for %s", host)
	}
	ip := ips[0].Unmap()
	for _, a := range ips {
		if a.Unmap().Is4() {
			ip = a.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// resolveFor is how long the event loops keep a name's address, and the
// longest a lookup may take.
const resolveFor = 30 * time.Second

type upstreamCounters struct {
	requests, responses                             atomic.Int64
	connectFailures, resets, timeouts, status5xx    atomic.Int64
	rejectedFull, rejectedTimeout, retriesFrom      atomic.Int64
	healthChanges, ejections, activeCheckFailures   atomic.Int64
	evictedNewSessions, protocolErrors, bytesToUser atomic.Int64
	upgrades                                        atomic.Int64
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
	d := net.Dialer{Timeout: u.p.cfg.DialTimeout, Resolver: u.p.cfg.Resolver}
	c, err := d.Dial("tcp", u.addr)
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
	if u.health.Draining() {
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
