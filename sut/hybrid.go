package sut

import (
	"context"
	"fmt"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/external"
	"github.com/ilities/ilities/sut/proxy"
)

// Hybrid mode: with sut.proxy.kind nginx or haproxy, the topology's
// backends are the simulated ones, and the proxy is the real binary run by
// package external. Its view of the backends (health events, attempts per
// backend) feeds the same detection-time computation as the built-in proxy:
// HAProxy's from its active checks; nginx's reconstructed from its access
// log by its passive max_fails / fail_timeout rule (nginx has no active
// checks).

// ExternalConfig translates the scenario's proxy settings and the started
// backends' addresses into the real proxy's configuration.
func ExternalConfig(s *scenario.Scenario, pools []proxy.PoolConfig) (external.Config, error) {
	sp := s.SUT.Proxy
	o := sp.ProxyOptions
	cfg := external.Config{
		Kind:     o.Kind,
		Strategy: sp.Strategy,
		Listen:   s.SUT.Listen,
		HashKey:  o.Hash.Key,
		Cookie:   o.Cookie,
		Retries:  o.Retries,
		Timeout:  sp.Timeout.D(),
	}
	if h := o.Health; h != nil {
		cfg.Health = &external.Health{Interval: h.Interval.D(), Timeout: h.Timeout.D(), Path: h.Path, Fall: h.Fall, Rise: h.Rise}
		// nginx's nearest equivalent of fall failed checks: fall failed attempts.
		cfg.Passive.MaxFails = h.Fall
	}
	if p := o.Passive; p != nil {
		cfg.Passive = external.Passive{MaxFails: p.ConsecutiveFailures, FailTimeout: p.EjectFor.D()}
	}
	for _, pc := range pools {
		if pc.Host != "" {
			return cfg, fmt.Errorf("sut: pool %s: kind %s routes by path prefix only, not by host", pc.Name, o.Kind)
		}
		ep := external.Pool{Name: pc.Name, PathPrefix: pc.PathPrefix}
		for _, u := range pc.Upstreams {
			ep.Upstreams = append(ep.Upstreams, external.Upstream{Name: u.Name, Addr: hostPort(u.URL), Weight: u.Weight})
		}
		cfg.Pools = append(cfg.Pools, ep)
	}
	return cfg, nil
}

// hostPort strips the scheme from a backend's base URL.
func hostPort(url string) string {
	for _, p := range []string{"http://", "https://"} {
		if len(url) > len(p) && url[:len(p)] == p {
			return url[len(p):]
		}
	}
	return url
}

// startExternal starts the real proxy in front of the started backends.
func (t *Topology) startExternal(ctx context.Context, s *scenario.Scenario, pools []proxy.PoolConfig) error {
	cfg, err := ExternalConfig(s, pools)
	if err != nil {
		return err
	}
	p, err := external.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("sut: %w", err)
	}
	t.ext = p
	return nil
}

// External is the real proxy of a hybrid topology, or nil.
func (t *Topology) External() *external.Proxy { return t.ext }

// externalEvents converts the real proxy's events.
func (t *Topology) externalEvents() [][]HealthEvent {
	var out []HealthEvent
	for _, e := range t.ext.Events() {
		out = append(out, HealthEvent{At: e.At, Pool: e.Pool, Upstream: e.Upstream, Healthy: e.Healthy, Reason: e.Reason})
	}
	return [][]HealthEvent{out}
}

// externalTotals are the real proxy's attempts per backend.
func (t *Topology) externalTotals() map[string]proxy.UpstreamStats {
	out := map[string]proxy.UpstreamStats{}
	for name, n := range t.ext.Forwarded() {
		out[name] = proxy.UpstreamStats{Name: name, Requests: n}
	}
	return out
}
