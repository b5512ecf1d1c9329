package proxy

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/sut/balancer"
)

// healthState is why an upstream is or is not available. It is available
// when no reason holds: not failed by active checks, not ejected, not
// marked down by hand, not draining.
type healthState struct {
	mu          sync.Mutex
	activeDown  bool
	fallCount   int // consecutive failed active checks
	riseCount   int // consecutive passed active checks
	ejected     atomic.Bool
	ejectedAt   time.Time
	ejectUntil  time.Time
	ejections   int // current backoff exponent
	lastEjectAt time.Time
	manualDown  bool
	available   bool // as last published
	published   bool

	consecutive atomic.Int64 // passive: failures in a row

	slowFrom atomic.Int64 // unix nanos when slow start began; 0 = none

	checkStop chan struct{} // closed when the upstream leaves
}

// setState changes the health state under its lock with mutate, then
// publishes the resulting availability to the balancer and logs an event
// when it changed. A non-empty string from mutate replaces reason.
func (u *upstream) setState(reason string, mutate func(h *healthState) string) {
	h := &u.health
	h.mu.Lock()
	if mutate != nil {
		if r := mutate(h); r != "" {
			reason = r
		}
	}
	avail := !h.activeDown && !h.ejected.Load() && !h.manualDown && !u.draining.Load()
	changed := !h.published || avail != h.available
	h.available, h.published = avail, true
	if changed {
		u.node.SetHealthy(avail)
	}
	h.mu.Unlock()
	if !changed {
		return
	}
	u.counts.healthChanges.Add(1)
	if avail && u.p.cfg.SlowStart > 0 {
		u.beginSlowStart(time.Now())
	}
	u.p.emit(u.pool.cfg.Name, u.cfg.Name, avail, reason)
}

func (u *upstream) beginSlowStart(now time.Time) {
	u.health.slowFrom.Store(now.UnixNano())
	u.node.SetWeightScale(100)
}

// passiveResult feeds outlier ejection with the result of one exchange.
func (p *Proxy) passiveResult(up *upstream, failed bool, now time.Time) {
	ps := &p.cfg.Passive
	if ps.ConsecutiveFailures <= 0 {
		return
	}
	h := &up.health
	if !failed {
		if h.consecutive.Load() != 0 {
			h.consecutive.Store(0)
		}
		return
	}
	n := h.consecutive.Add(1)
	if n < int64(ps.ConsecutiveFailures) || h.ejected.Load() {
		return
	}
	// Max ejected percent: at least one upstream may always be ejected.
	members := up.pool.load().members
	ejected := 0
	for _, m := range members {
		if o := up.pool.load().byNode[m]; o != nil && o.health.ejected.Load() {
			ejected++
		}
	}
	if ejected > 0 && (ejected+1)*100 > ps.MaxEjectedPercent*len(members) {
		return
	}
	ejectedNow := false
	up.setState("", func(h *healthState) string {
		if h.ejected.Load() {
			return ""
		}
		// Backoff: an ejection soon after the previous one lasts longer.
		if !h.lastEjectAt.IsZero() && now.Sub(h.lastEjectAt) < ps.MaxEjectFor+ps.EjectFor<<min(h.ejections, 16) {
			h.ejections++
		} else {
			h.ejections = 0
		}
		dur := min(ps.EjectFor<<min(h.ejections, 16), ps.MaxEjectFor)
		h.ejected.Store(true)
		h.ejectedAt, h.ejectUntil, h.lastEjectAt = now, now.Add(dur), now
		h.consecutive.Store(0)
		ejectedNow = true
		return fmt.Sprintf("passive: %d consecutive failures, ejected for %v", n, dur)
	})
	if ejectedNow {
		up.counts.ejections.Add(1)
	}
}

// startBackground starts the maintenance loop (ejection expiry, slow start)
// and the active health checks. Without outlier ejection and slow start
// there is nothing to maintain, and no loop: an idle proxy does not wake.
func (p *Proxy) startBackground() {
	for _, pl := range p.pools {
		for _, up := range pl.load().byNode {
			up.setState("start", nil)
			p.startChecks(up)
		}
	}
	if p.cfg.Passive.ConsecutiveFailures <= 0 && p.cfg.SlowStart <= 0 {
		return
	}
	p.loops.Add(1)
	go func() {
		defer crash.Guard()
		defer p.loops.Done()
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				p.maintain(now)
			}
		}
	}()
}

// maintain ends ejections that are over and advances slow starts.
func (p *Proxy) maintain(now time.Time) {
	for _, pl := range p.pools {
		for _, node := range pl.load().members {
			up := pl.load().byNode[node]
			if up == nil {
				continue
			}
			h := &up.health
			if h.ejected.Load() {
				up.setState("ejection ended", func(h *healthState) string {
					if !now.Before(h.ejectUntil) {
						h.ejected.Store(false)
					}
					return ""
				})
			}
			if from := h.slowFrom.Load(); from != 0 {
				f := float64(now.UnixNano()-from) / float64(p.cfg.SlowStart)
				if f >= 1 {
					node.SetWeightScale(1000)
					h.slowFrom.CompareAndSwap(from, 0)
				} else {
					node.SetWeightScale(100 + int(900*max(f, 0)))
				}
			}
		}
	}
}

// startChecks runs active health checks of up until the proxy closes or
// up leaves its pool.
func (p *Proxy) startChecks(up *upstream) {
	hc := p.cfg.Health
	if hc.Interval <= 0 {
		return
	}
	up.health.checkStop = make(chan struct{})
	stop := up.health.checkStop
	client := &http.Client{
		Timeout: hc.Timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Resolver: p.cfg.Resolver}).DialContext,
			MaxIdleConnsPerHost: 1,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := "http://" + up.addr + hc.Path
	// Spread the checks of different upstreams over the interval.
	hsh := fnv.New32a()
	_, _ = hsh.Write([]byte(up.cfg.Name))
	offset := time.Duration(hsh.Sum32()) % hc.Interval
	p.loops.Add(1)
	go func() {
		defer crash.Guard()
		defer p.loops.Done()
		defer client.CloseIdleConnections()
		t := time.NewTimer(offset)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-stop:
				return
			case <-t.C:
			}
			ok, why := p.check(client, url, up)
			p.activeResult(up, ok, why)
			t.Reset(hc.Interval)
		}
	}()
}

func (p *Proxy) check(client *http.Client, url string, up *upstream) (bool, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "ilities-health-check")
	resp, err := client.Do(req)
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return false, msg
	}
	_ = resp.Body.Close()
	if l, ok := parseLoad([]byte(resp.Header.Get(headers.Load))); ok {
		up.load.Store(&l)
		if up.pool.observe != nil {
			// The report reaches the strategy even while no traffic flows.
			up.pool.observe.Observe(up.node, observationOfLoad(&l))
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return false, "status " + resp.Status
	}
	return true, ""
}

func (p *Proxy) activeResult(up *upstream, ok bool, why string) {
	hc := p.cfg.Health
	if !ok {
		up.counts.activeCheckFailures.Add(1)
	}
	up.setState("active check", func(h *healthState) string {
		if ok {
			h.fallCount = 0
			h.riseCount++
			if h.activeDown && h.riseCount >= hc.Rise {
				h.activeDown = false
				return fmt.Sprintf("active check: %d passed", h.riseCount)
			}
			return ""
		}
		h.riseCount = 0
		h.fallCount++
		if !h.activeDown && h.fallCount >= hc.Fall {
			h.activeDown = true
			return fmt.Sprintf("active check: %d failed (%s)", h.fallCount, why)
		}
		return ""
	})
}

func observationOfLoad(l *balancer.Load) balancer.Observation {
	return balancer.Observation{At: time.Now(), Load: l}
}
