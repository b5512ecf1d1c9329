package scenario

import (
	"fmt"
	"strings"
)

// ProxyOptions are the built-in proxy's settings beyond the strategy and
// timeout; they sit inline in sut.proxy:
//
//	proxy:
//	  strategy: consistent-hash
//	  hash: {key: "header:X-User", method: ring, bounded_load: 1.25}
//	  replicas: 2
//	  health: {interval: 250ms, timeout: 100ms, fall: 2, rise: 2, path: /}
//	  passive: {consecutive_failures: 3, eject_for: 5s, max_ejected_percent: 50%}
//	  all_down: fail                # or panic
//	  slow_start: 10s
//	  retries: 1
//	  retry_budget: 20%
//	  admission: {max_inflight: 64, queue: 128, queue_timeout: 1s, session_aware: true}
//	  limits: {max_header_bytes: 32KiB, max_body_bytes: 1MiB, read_header_timeout: 5s}
//	  rate_limit: {rate: 100/s, burst: 50}
//	  tls: true
//	  admin: 127.0.0.1:9901         # the stats' own listener, loopback only
type ProxyOptions struct {
	// Kind is which proxy fronts the backends: "builtin" (the default, this
	// process), or "nginx" / "haproxy": the real binary, started with a
	// generated configuration (hybrid mode, package sut/external).
	Kind string `yaml:"kind"`
	// Replicas is the number of proxy instances, each with its own balancer
	// state, in front of the same backends. Default 1.
	Replicas int `yaml:"replicas"`
	// MTBF and MTTR are each replica's, for the availability projection:
	// with an MTBF the replicas are a tier of their own in it.
	MTBF Duration `yaml:"mtbf"`
	MTTR Duration `yaml:"mttr"`
	// Hash configures consistent-hash.
	Hash HashOptions `yaml:"hash"`
	// Cookie is the cookie strategy's cookie name. Default ilities_node.
	Cookie string `yaml:"cookie"`
	// EWMA configures least-response-time.
	EWMA EWMAOptions `yaml:"ewma"`
	// Health is active health checking; off when absent.
	Health *HealthCheck `yaml:"health"`
	// Passive is outlier ejection; off when absent.
	Passive *PassiveHealth `yaml:"passive"`
	// AllDown is what a pool with no available backend does: "fail" (503,
	// the default) or "panic" (balance over all of them anyway).
	AllDown string `yaml:"all_down"`
	// SlowStart ramps a recovered or added backend's weight up over this long.
	SlowStart Duration `yaml:"slow_start"`
	// Retries is how many other backends a failed request may try.
	Retries int `yaml:"retries"`
	// RetryBudget caps retries as a share of requests. Default 20%.
	RetryBudget Percent `yaml:"retry_budget"`
	// Admission is per-backend admission control; off when absent.
	Admission *Admission `yaml:"admission"`
	// Limits are the hardening limits.
	Limits ProxyLimits `yaml:"limits"`
	// RateLimit limits each client IP; off when absent.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// TLS terminates TLS with a generated self-signed certificate.
	TLS bool `yaml:"tls"`
	// HTTP2 is HTTP/2 on the front: h2 by ALPN on TLS, h2c with prior
	// knowledge in cleartext; on unless disabled.
	HTTP2 HTTP2Options `yaml:"http2"`
	// TrustForwarded appends to a client's X-Forwarded-For instead of
	// replacing it.
	TrustForwarded bool `yaml:"trust_forwarded"`
	// Admin is the address of each replica's admin listener, which serves
	// its statistics (GET /.ilities/stats) apart from the public port: a
	// loopback host:port. Replicas after the first take a free port on the
	// same host. Default 127.0.0.1:0 (builtin proxy only).
	Admin string `yaml:"admin"`
}

// HTTP2Options configure HTTP/2 on the proxy's front.
type HTTP2Options struct {
	// Disabled turns HTTP/2 off.
	Disabled bool `yaml:"disabled"`
	// MaxConcurrentStreams bounds each connection's open streams. Default 100.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
}

// HashOptions configure consistent-hash.
type HashOptions struct {
	// Key is "path" (default), "header:NAME" or "cookie:NAME".
	Key string `yaml:"key"`
	// Method is "ring" (default) or "rendezvous".
	Method string `yaml:"method"`
	// BoundedLoad > 1 caps each backend at that multiple of the mean load.
	BoundedLoad float64 `yaml:"bounded_load"`
}

// EWMAOptions configure least-response-time.
type EWMAOptions struct {
	// Decay is the moving average's time constant. Default 10s.
	Decay Duration `yaml:"decay"`
	// DefaultRTT is the estimate before a backend's first response. Default 10ms.
	DefaultRTT Duration `yaml:"default_rtt"`
}

// HealthCheck is active health checking.
type HealthCheck struct {
	Interval Duration `yaml:"interval"`
	// Timeout of one check. Default: Interval.
	Timeout Duration `yaml:"timeout"`
	// Path checked with GET. Default /.
	Path string `yaml:"path"`
	// Fall failed checks in a row mark a backend down, Rise passed ones up.
	// Defaults 2 and 2.
	Fall int `yaml:"fall"`
	Rise int `yaml:"rise"`
}

// PassiveHealth is outlier ejection.
type PassiveHealth struct {
	// ConsecutiveFailures in a row eject a backend. Default 5.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// EjectFor is the first ejection's length, doubled for each ejection
	// that follows soon after, up to MaxEjectFor. Defaults 5s and 10 × EjectFor.
	EjectFor    Duration `yaml:"eject_for"`
	MaxEjectFor Duration `yaml:"max_eject_for"`
	// MaxEjectedPercent of a pool may be ejected at once. Default 50%.
	MaxEjectedPercent Percent `yaml:"max_ejected_percent"`
}

// Admission is per-backend admission control.
type Admission struct {
	// MaxInflight requests per backend at once.
	MaxInflight int `yaml:"max_inflight"`
	// Queue is how many more may wait per backend; past it, 503.
	Queue int `yaml:"queue"`
	// QueueTimeout is the longest wait. Default 1s.
	QueueTimeout Duration `yaml:"queue_timeout"`
	// SessionAware admits requests of known sessions (carrying the session
	// cookie) ahead of new ones.
	SessionAware bool `yaml:"session_aware"`
	// SessionCookie names the session cookie. Default ilities_session.
	SessionCookie string `yaml:"session_cookie"`
}

// ProxyLimits are the proxy's hardening limits.
type ProxyLimits struct {
	MaxHeaderBytes    Size     `yaml:"max_header_bytes"`    // default 32KiB → 431
	MaxBodyBytes      Size     `yaml:"max_body_bytes"`      // default 64MiB → 413
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"` // default 10s (slowloris)
	IdleTimeout       Duration `yaml:"idle_timeout"`        // default 60s
	// UpgradeIdleTimeout ends an upgraded connection (WebSocket) idle both
	// ways this long. Default 60s.
	UpgradeIdleTimeout Duration `yaml:"upgrade_idle_timeout"`
}

// RateLimit is a per-client-IP token bucket.
type RateLimit struct {
	Rate  Rate `yaml:"rate"`
	Burst int  `yaml:"burst"` // default: one second's worth
}

// AllDownModes are the accepted values of all_down.
var AllDownModes = []string{"fail", "panic"}

func (o *ProxyOptions) applyDefaults() {
	if o.Kind == "" {
		o.Kind = ProxyBuiltin
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Admin == "" && !o.IsExternal() {
		o.Admin = DefaultAdmin
	}
	if o.AllDown == "" {
		o.AllDown = "fail"
	}
	if o.RetryBudget == 0 {
		o.RetryBudget = 0.2
	}
	if p := o.Passive; p != nil {
		if p.ConsecutiveFailures == 0 {
			p.ConsecutiveFailures = 5
		}
		if p.MaxEjectedPercent == 0 {
			p.MaxEjectedPercent = 0.5
		}
	}
}

func (v *validator) proxyOptions(path string, o *ProxyOptions, strategy string) {
	if o.Replicas < 1 {
		v.addf(path+".replicas", "replicas must be at least 1, got %d", o.Replicas)
	}
	v.oneOf(path+".all_down", "all_down mode", o.AllDown, AllDownModes)
	v.proxyKind(path, o, strategy)
	if o.Admin != "" {
		v.loopback(path+".admin", o.Admin)
	}
	if o.Hash.Key != "" && o.Hash.Key != "path" && !strings.HasPrefix(o.Hash.Key, "header:") && !strings.HasPrefix(o.Hash.Key, "cookie:") {
		v.addf(path+".hash.key", `expected "path", "header:NAME" or "cookie:NAME", got %q`, o.Hash.Key)
	}
	if o.Hash.Method != "" {
		v.oneOf(path+".hash.method", "hash method", o.Hash.Method, []string{"ring", "rendezvous"})
	}
	if o.Hash.BoundedLoad != 0 && o.Hash.BoundedLoad <= 1 {
		v.addf(path+".hash.bounded_load", "bounded_load must be greater than 1 (such as 1.25), got %g", o.Hash.BoundedLoad)
	}
	if (o.Hash != HashOptions{}) && strategy != "consistent-hash" {
		v.addf(path+".hash", "hash: applies to strategy consistent-hash, not %s", strategy)
	}
	if o.Retries < 0 {
		v.addf(path+".retries", "retries must be 0 or more, got %d", o.Retries)
	}
	if o.RetryBudget < 0 || o.RetryBudget > 1 {
		v.addf(path+".retry_budget", "retry_budget must be between 0%% and 100%%, got %s", o.RetryBudget)
	}
	if o.SlowStart < 0 {
		v.add(path+".slow_start", "slow_start must not be negative")
	}
	if h := o.Health; h != nil {
		if h.Interval <= 0 {
			v.add(path+".health.interval", `health checks need interval: a duration greater than 0, such as "250ms"`)
		}
		if h.Timeout < 0 || h.Fall < 0 || h.Rise < 0 {
			v.add(path+".health", "timeout, fall and rise must not be negative")
		}
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			v.addf(path+".health.path", `path must start with "/", got %q`, h.Path)
		}
	}
	if p := o.Passive; p != nil {
		if p.ConsecutiveFailures < 1 {
			v.addf(path+".passive.consecutive_failures", "consecutive_failures must be at least 1, got %d", p.ConsecutiveFailures)
		}
		if p.EjectFor < 0 || p.MaxEjectFor < 0 || (p.MaxEjectFor > 0 && p.MaxEjectFor < p.EjectFor) {
			v.add(path+".passive.eject_for", "eject_for and max_eject_for must be positive, with max_eject_for >= eject_for")
		}
		if p.MaxEjectedPercent <= 0 || p.MaxEjectedPercent > 1 {
			v.addf(path+".passive.max_ejected_percent", "max_ejected_percent must be above 0%% and at most 100%%, got %s", p.MaxEjectedPercent)
		}
	}
	if a := o.Admission; a != nil {
		if a.MaxInflight < 1 {
			v.addf(path+".admission.max_inflight", "max_inflight must be at least 1, got %d", a.MaxInflight)
		}
		if a.Queue < 0 {
			v.addf(path+".admission.queue", "queue must be 0 or more, got %d", a.Queue)
		}
		if a.QueueTimeout < 0 {
			v.add(path+".admission.queue_timeout", "queue_timeout must not be negative")
		}
	}
	if l := o.Limits; l.MaxHeaderBytes < 0 || l.MaxBodyBytes < 0 || l.ReadHeaderTimeout < 0 || l.IdleTimeout < 0 || l.UpgradeIdleTimeout < 0 {
		v.add(path+".limits", "limits must not be negative")
	} else if l.MaxHeaderBytes > 0 && l.MaxHeaderBytes < 256 {
		v.addf(path+".limits.max_header_bytes", "max_header_bytes must be at least 256 bytes, got %s", l.MaxHeaderBytes)
	}
	if o.HTTP2.MaxConcurrentStreams < 0 {
		v.addf(path+".http2.max_concurrent_streams", "max_concurrent_streams must be 0 (the default, 100) or more, got %d", o.HTTP2.MaxConcurrentStreams)
	}
	if r := o.RateLimit; r != nil {
		if r.Rate <= 0 {
			v.add(path+".rate_limit.rate", `rate_limit needs rate: greater than 0, such as "100/s"`)
		}
		if r.Burst < 0 {
			v.add(path+".rate_limit.burst", fmt.Sprintf("burst must be 0 or more, got %d", r.Burst))
		}
	}
}
