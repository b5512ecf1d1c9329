package proxy

import "time"

// Stats is a snapshot of the proxy's counters, as served at StatsPath.
type Stats struct {
	// At is when the snapshot was taken.
	At time.Time `json:"at"`
	// Requests counts parsed requests; Unrouted the 404s (no pool matched);
	// Unavailable the 503s of pools with no available upstream;
	// RateLimited the 429s; BadRequests the requests refused as malformed or
	// over a limit (400, 413, 431, 505...).
	Requests    int64 `json:"requests"`
	Unrouted    int64 `json:"unrouted"`
	Unavailable int64 `json:"unavailable"`
	RateLimited int64 `json:"rate_limited"`
	BadRequests int64 `json:"bad_requests"`
	// Retries counts retries on another upstream; RetryBudgetExhausted the
	// retries refused by the budget; PanicRouted the requests balanced over
	// unhealthy upstreams because every one was down (AllDown "panic").
	Retries              int64 `json:"retries"`
	RetryBudgetExhausted int64 `json:"retry_budget_exhausted"`
	PanicRouted          int64 `json:"panic_routed"`
	// H2Connections counts the HTTP/2 connections served, H2Streams their
	// streams (each also one of Requests).
	H2Connections int64 `json:"h2_connections"`
	H2Streams     int64 `json:"h2_streams"`
	// Connections is the number of open client connections, upgraded
	// ones included.
	Connections int `json:"connections"`
	// Upgrades are the connections switched to another protocol (101
	// Switching Protocols: WebSocket...) and tunnelled.
	Upgrades  UpgradeStats    `json:"upgrades"`
	Upstreams []UpstreamStats `json:"upstreams"`
}

// UpgradeStats count upgraded connections: Open now, Total since the
// counters were reset, and the bytes tunnelled each way (after the 101).
type UpgradeStats struct {
	Open            int64 `json:"open"`
	Total           int64 `json:"total"`
	BytesToUpstream int64 `json:"bytes_to_upstream"`
	BytesToClient   int64 `json:"bytes_to_client"`
}

// UpstreamStats are one upstream's counters and gauges.
type UpstreamStats struct {
	Pool string `json:"pool"`
	Name string `json:"name"`
	URL  string `json:"url"`
	// Weight is the configured weight; EffectiveWeight includes slow start
	// (equal to Weight when not ramping).
	Weight          int     `json:"weight"`
	EffectiveWeight float64 `json:"effective_weight"`
	// Healthy: the upstream may be picked. Ejected, ActiveDown and Draining
	// say why not.
	Healthy    bool `json:"healthy"`
	Ejected    bool `json:"ejected"`
	ActiveDown bool `json:"active_down"`
	Draining   bool `json:"draining"`
	// Inflight is the number of requests at the upstream now; Queued the
	// number waiting for admission to it.
	Inflight int64 `json:"inflight"`
	Queued   int64 `json:"queued"`
	// Requests counts exchanges started with the upstream; Responses those
	// that got a response head.
	Requests  int64 `json:"requests"`
	Responses int64 `json:"responses"`
	// Failures counts exchanges that ended without a response (answered 502
	// or 504): ConnectFailures + Resets + Timeouts.
	Failures        int64 `json:"failures"`
	ConnectFailures int64 `json:"connect_failures"`
	Resets          int64 `json:"resets"`
	Timeouts        int64 `json:"timeouts"`
	ProtocolErrors  int64 `json:"protocol_errors"`
	// Status5xx counts responses from the upstream with a 5xx status.
	Status5xx int64 `json:"status_5xx"`
	// RejectedFull and RejectedTimeout count admission rejections (503 +
	// Retry-After): queue full, queue timeout.
	RejectedFull    int64 `json:"rejected_full"`
	RejectedTimeout int64 `json:"rejected_timeout"`
	// RetriedAway counts requests retried on another upstream after failing
	// here.
	RetriedAway int64 `json:"retried_away"`
	// Upgrades counts the connections upgraded (101) with this upstream.
	Upgrades int64 `json:"upgrades"`
	// HealthChanges counts availability changes; Ejections passive
	// ejections; ActiveCheckFailures failed active checks.
	HealthChanges       int64 `json:"health_changes"`
	Ejections           int64 `json:"ejections"`
	ActiveCheckFailures int64 `json:"active_check_failures"`
	// LatencyEWMAMillis is a moving average of the time to response
	// headers of successful exchanges.
	LatencyEWMAMillis float64 `json:"latency_ewma_ms"`
	// ReportedInflight, ReportedWorkers and ReportedQueue are the last load
	// the upstream reported (X-Ilities-Load), -1 if none.
	ReportedInflight int `json:"reported_inflight"`
	ReportedWorkers  int `json:"reported_workers"`
	ReportedQueue    int `json:"reported_queue"`
}

// Stats returns the counters since New or the last ResetStats, upstreams in
// pool and configuration order (joined ones last). It is cheap enough to
// call every second.
func (p *Proxy) Stats() Stats {
	s := Stats{
		At:                   time.Now(),
		Requests:             p.stats.requests.Load(),
		Unrouted:             p.stats.unrouted.Load(),
		Unavailable:          p.stats.unavailable.Load(),
		RateLimited:          p.stats.rateLimited.Load(),
		BadRequests:          p.stats.badRequests.Load(),
		Retries:              p.stats.retries.Load(),
		RetryBudgetExhausted: p.stats.retryBudgetExhausted.Load(),
		PanicRouted:          p.stats.panicRouted.Load(),
		Upgrades: UpgradeStats{
			Open:            p.stats.upgrades.open.Load(),
			Total:           p.stats.upgrades.total.Load(),
			BytesToUpstream: p.stats.upgrades.bytesToUpstream.Load(),
			BytesToClient:   p.stats.upgrades.bytesToClient.Load(),
		},
		H2Connections: p.stats.h2Conns.Load(),
		H2Streams:     p.stats.h2Streams.Load(),
	}
	p.mu.Lock()
	s.Connections = len(p.conns)
	p.mu.Unlock()
	s.Connections += int(p.loopClients.Load())
	for _, pl := range p.pools {
		view := pl.load()
		for _, node := range view.members {
			up := view.byNode[node]
			c := &up.counts
			us := UpstreamStats{
				Pool:                pl.cfg.Name,
				Name:                node.Name,
				URL:                 up.url.String(),
				Weight:              max(node.Weight, 1),
				EffectiveWeight:     float64(max(node.Weight, 1)) * float64(node.WeightScale()) / 1000,
				Healthy:             node.Healthy(),
				Ejected:             up.health.Ejected(),
				Draining:            up.health.Draining(),
				Inflight:            node.Inflight(),
				Queued:              node.Queued(),
				Requests:            c.requests.Load(),
				Responses:           c.responses.Load(),
				ConnectFailures:     c.connectFailures.Load(),
				Resets:              c.resets.Load(),
				Timeouts:            c.timeouts.Load(),
				ProtocolErrors:      c.protocolErrors.Load(),
				Status5xx:           c.status5xx.Load(),
				RejectedFull:        c.rejectedFull.Load(),
				RejectedTimeout:     c.rejectedTimeout.Load(),
				RetriedAway:         c.retriesFrom.Load(),
				Upgrades:            c.upgrades.Load(),
				HealthChanges:       c.healthChanges.Load(),
				Ejections:           c.ejections.Load(),
				ActiveCheckFailures: c.activeCheckFailures.Load(),
				LatencyEWMAMillis:   float64(up.latency.get()) / 1e6,
				ReportedInflight:    -1,
				ReportedWorkers:     -1,
				ReportedQueue:       -1,
			}
			us.Failures = us.ConnectFailures + us.Resets + us.Timeouts
			up.healthMu.Lock()
			us.ActiveDown = up.health.ActiveDown()
			up.healthMu.Unlock()
			if l := up.load.Load(); l != nil {
				us.ReportedInflight, us.ReportedWorkers, us.ReportedQueue = l.Inflight, l.Workers, l.Queue
			}
			s.Upstreams = append(s.Upstreams, us)
		}
	}
	return s
}

// ResetStats zeroes the counters (not the gauges: in flight, queued, health,
// upgraded connections open).
func (p *Proxy) ResetStats() {
	for _, c := range []interface{ Store(int64) }{
		&p.stats.requests, &p.stats.unrouted, &p.stats.unavailable, &p.stats.rateLimited,
		&p.stats.badRequests, &p.stats.retries, &p.stats.retryBudgetExhausted, &p.stats.panicRouted,
		&p.stats.upgrades.total, &p.stats.upgrades.bytesToUpstream, &p.stats.upgrades.bytesToClient,
	} {
		c.Store(0)
	}
	for _, pl := range p.pools {
		for _, up := range pl.load().byNode {
			c := &up.counts
			for _, x := range []interface{ Store(int64) }{
				&c.requests, &c.responses, &c.connectFailures, &c.resets, &c.timeouts, &c.status5xx,
				&c.rejectedFull, &c.rejectedTimeout, &c.retriesFrom, &c.healthChanges, &c.ejections,
				&c.activeCheckFailures, &c.evictedNewSessions, &c.protocolErrors, &c.bytesToUser,
				&c.upgrades,
			} {
				x.Store(0)
			}
		}
	}
}
