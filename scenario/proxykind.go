package scenario

import (
	"fmt"
	"strings"
)

// Proxy kinds: the built-in proxy, or a real one in hybrid mode.
const (
	ProxyBuiltin = "builtin"
	ProxyNginx   = "nginx"
	ProxyHAProxy = "haproxy"
)

// ProxyKinds are the accepted values of sut.proxy.kind.
var ProxyKinds = []string{ProxyBuiltin, ProxyNginx, ProxyHAProxy}

// ExternalStrategies lists, per real proxy kind, the strategies it can run:
// validation reads it, and package sut/external maps exactly these to the
// proxy's own algorithms (its tests keep the two in step). Every name is a
// strategy of package sut/balancer.
var ExternalStrategies = map[string][]string{
	ProxyNginx:   {"round-robin", "weighted-round-robin", "least-connections", "ip-hash", "consistent-hash", "random", "power-of-two"},
	ProxyHAProxy: {"round-robin", "weighted-round-robin", "least-connections", "ip-hash", "consistent-hash", "random", "power-of-two", "cookie"},
}

// IsExternal reports whether the proxy is a real one (nginx, haproxy).
func (o *ProxyOptions) IsExternal() bool { return o.Kind == ProxyNginx || o.Kind == ProxyHAProxy }

// proxyKind checks the kind, and that a real proxy can run the strategy
// and the options asked of it.
func (v *validator) proxyKind(path string, o *ProxyOptions, strategy string) {
	v.oneOf(path+".kind", "proxy kind", o.Kind, ProxyKinds)
	if !o.IsExternal() {
		return
	}
	if allowed := ExternalStrategies[o.Kind]; !contains(allowed, strategy) {
		v.addf(path+".strategy", "%s has no strategy %q; with kind %s use one of %s (or kind builtin)",
			o.Kind, strategy, o.Kind, strings.Join(allowed, ", "))
	}
	var unsupported []string
	if o.Replicas > 1 {
		unsupported = append(unsupported, "replicas")
	}
	if o.Admission != nil {
		unsupported = append(unsupported, "admission")
	}
	if o.RateLimit != nil {
		unsupported = append(unsupported, "rate_limit")
	}
	if o.TLS {
		unsupported = append(unsupported, "tls")
	}
	if o.HTTP2 != (HTTP2Options{}) {
		unsupported = append(unsupported, "http2")
	}
	// The default may be left from a builtin scenario switched to another
	// kind (compare --proxies); only an address asked for is an error.
	if o.Admin != "" && o.Admin != DefaultAdmin {
		unsupported = append(unsupported, "admin")
	}
	if o.Hash.Method == "rendezvous" || o.Hash.BoundedLoad != 0 {
		unsupported = append(unsupported, "hash.method/bounded_load")
	}
	if len(unsupported) > 0 {
		v.add(path+".kind", fmt.Sprintf("kind %s does not support %s (only the builtin proxy does)", o.Kind, strings.Join(unsupported, ", ")))
	}
}
