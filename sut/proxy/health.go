package proxy

import (
	"hash/fnv"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/health"
)

// healthRules are the health rules of the proxy's configuration.
func (p *Proxy) healthRules() health.Rules {
	return health.Rules{Rise: p.cfg.Health.Rise, Fall: p.cfg.Health.Fall, Passive: p.cfg.Passive, SlowStart: p.cfg.SlowStart}
}

// changeHealth applies change to the upstream's health under its lock and
// publishes the availability it reports, when that changed: to the
// balancer at once, then to the counters, slow start and the event log.
func (u *upstream) changeHealth(now time.Time, change func(h *health.Upstream, now time.Time) (health.Change, bool)) {
	u.healthMu.Lock()
	c, changed := change(u.health, now)
	if changed {
		u.node.SetHealthy(c.Available)
	}
	u.healthMu.Unlock()
	if changed {
		u.published(c, now)
	}
}

// published records a change of the upstream's availability, once the
// balancer has it.
func (u *upstream) published(c health.Change, now time.Time) {
	u.counts.healthChanges.Add(1)
	if c.Available {
		// A slow start has begun: its first weight.
		if scale, ok := u.health.WeightScale(now); ok {
			u.node.SetWeightScale(scale)
		}
	}
	u.p.emit(u.pool.cfg.Name, u.cfg.Name, c.Available, c.Reason)
}

// passiveResult feeds outlier ejection with the result of one exchange.
func (p *Proxy) passiveResult(up *upstream, failed bool, now time.Time) {
	failures, eject := up.health.Exchange(failed)
	if !eject {
		return
	}
	view := up.pool.load()
	pool := health.Pool{Members: len(view.members)}
	for _, m := range view.members {
		if o := view.byNode[m]; o != nil && o.health.Ejected() {
			pool.Ejected++
		}
	}
	ejected := false
	up.changeHealth(now, func(h *health.Upstream, now time.Time) (c health.Change, changed bool) {
		ejected, c, changed = h.Eject(failures, pool, now)
		return c, changed
	})
	if ejected {
		up.counts.ejections.Add(1)
	}
}

// startBackground starts the maintenance loop (ejection expiry, slow start)
// and the active health checks. Without outlier ejection and slow start
// there is nothing to maintain, and no loop: an idle proxy does not wake.
func (p *Proxy) startBackground() {
	for _, pl := range p.pools {
		for _, up := range pl.load().byNode {
			up.changeHealth(time.Now(), publishAs(health.ReasonStart))
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
		view := pl.load()
		for _, node := range view.members {
			up := view.byNode[node]
			if up == nil {
				continue
			}
			if up.health.Ejected() {
				up.changeHealth(now, (*health.Upstream).Expire)
			}
			if scale, ok := up.health.WeightScale(now); ok {
				node.SetWeightScale(scale)
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
	up.checkStop = make(chan struct{})
	stop := up.checkStop
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
	if l, ok := balancer.ParseLoad([]byte(resp.Header.Get(headers.Load))); ok {
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
	if !ok {
		up.counts.activeCheckFailures.Add(1)
	}
	up.changeHealth(time.Now(), func(h *health.Upstream, now time.Time) (health.Change, bool) {
		return h.Check(ok, why, now)
	})
}

// publishAs publishes an upstream's availability, when not yet published,
// with reason.
func publishAs(reason string) func(*health.Upstream, time.Time) (health.Change, bool) {
	return func(h *health.Upstream, now time.Time) (health.Change, bool) { return h.Publish(reason, now) }
}

func observationOfLoad(l *balancer.Load) balancer.Observation {
	return balancer.Observation{At: time.Now(), Load: l}
}
