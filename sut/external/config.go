// Package external runs a real reverse proxy (nginx or HAProxy) in front of
// the simulated backends: the hybrid system under test. It writes the
// proxy's configuration from a Config, starts the binary on 127.0.0.1 with
// a free port in a temporary directory of its own, waits until it answers,
// watches what it does to each backend (nginx: its access log; HAProxy: its
// stats socket), and on Close stops it and removes the directory.
package external

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ilities/ilities/sut/balancer"
)

// Kinds of real proxies.
const (
	Nginx   = "nginx"
	HAProxy = "haproxy"
)

// HealthPath answers 200 from the proxy itself (not a backend): it is how
// Start knows the proxy is up.
const HealthPath = "/.ilities/proxy-health"

// Config is the proxy to run: everything in it comes from the scenario.
type Config struct {
	Kind     string // Nginx or HAProxy
	Strategy string // an ilities strategy name (see Directives)
	// Listen is the proxy's address, as the scenario's sut.listen; a free
	// loopback port when empty or when its port is 0.
	Listen string
	// HashKey is consistent-hash's key: "path", "header:NAME" or "cookie:NAME".
	HashKey string
	// Cookie is the cookie strategy's cookie name (HAProxy only).
	Cookie string
	// Health is active health checking (HAProxy only: nginx has passive
	// checks only, see Passive).
	Health *Health
	// Passive: MaxFails failed attempts within FailTimeout take a backend
	// out for FailTimeout (nginx max_fails / fail_timeout). HAProxy without
	// Health has no equivalent.
	Passive Passive
	// Retries is how many other backends a failed attempt may go to.
	Retries int
	// Timeout bounds one upstream exchange.
	Timeout time.Duration
	Pools   []Pool
}

// Health is an active check: GET Path every Interval, Fall failures mark a
// backend down, Rise successes up.
type Health struct {
	Interval, Timeout time.Duration
	Path              string
	Fall, Rise        int
}

// Passive is nginx's passive failure accounting.
type Passive struct {
	MaxFails    int
	FailTimeout time.Duration
}

// Pool is a group of backends behind a path prefix.
type Pool struct {
	Name       string
	PathPrefix string
	Upstreams  []Upstream
}

// Upstream is one backend: its name (which it reports in X-Ilities-Backend
// itself), its host:port address and its weight.
type Upstream struct {
	Name, Addr string
	Weight     int
}

// Packages names the Debian package that provides each kind's binary.
var Packages = map[string]string{Nginx: "nginx-light (or nginx)", HAProxy: "haproxy"}

// directives maps an ilities strategy to the proxy's balancing lines.
// nginx: lines inside the upstream block; HAProxy: lines of the backend.
func directives(kind, strategy, hashKey, cookie string) ([]string, error) {
	if kind != Nginx && kind != HAProxy {
		return nil, fmt.Errorf("unknown proxy kind %q (expected %s or %s)", kind, Nginx, HAProxy)
	}
	lines, ok := mapStrategy(kind, strategy, hashKey, cookie)
	if !ok {
		return nil, fmt.Errorf("%s has no equivalent of strategy %q; use one of %s", kind, strategy, strings.Join(Strategies(kind), ", "))
	}
	return lines, nil
}

func mapStrategy(kind, strategy, hashKey, cookie string) ([]string, bool) {
	switch kind {
	case Nginx:
		switch strategy {
		case "round-robin", "weighted-round-robin":
			return nil, true // nginx's default is (smooth) weighted round-robin
		case "least-connections":
			return []string{"least_conn;"}, true
		case "ip-hash":
			return []string{"ip_hash;"}, true
		case "consistent-hash":
			return []string{"hash " + nginxHashKey(hashKey) + " consistent;"}, true
		case "random":
			return []string{"random;"}, true
		case "power-of-two":
			return []string{"random two least_conn;"}, true
		}
	case HAProxy:
		switch strategy {
		case "round-robin", "weighted-round-robin":
			return []string{"balance roundrobin"}, true
		case "least-connections":
			return []string{"balance leastconn"}, true
		case "ip-hash":
			return []string{"balance source", "hash-type consistent"}, true
		case "consistent-hash":
			return []string{haproxyHashBalance(hashKey), "hash-type consistent"}, true
		case "random":
			return []string{"balance random(1)"}, true
		case "power-of-two":
			return []string{"balance random(2)"}, true
		case "cookie":
			if cookie == "" {
				cookie = "ilities_node"
			}
			return []string{"balance roundrobin", "cookie " + cookie + " insert indirect nocache"}, true
		}
	}
	return nil, false
}

// Strategies lists the ilities strategies kind can run, sorted: those of
// the balancer's registry that mapStrategy maps.
func Strategies(kind string) []string {
	var out []string
	for _, s := range balancer.Names() {
		if _, ok := mapStrategy(kind, s, "", ""); ok {
			out = append(out, s)
		}
	}
	return out
}

func nginxHashKey(key string) string {
	switch {
	case strings.HasPrefix(key, "header:"):
		return "$http_" + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(key, "header:"), "-", "_"))
	case strings.HasPrefix(key, "cookie:"):
		return "$cookie_" + strings.TrimPrefix(key, "cookie:")
	default:
		return "$request_uri"
	}
}

func haproxyHashBalance(key string) string {
	switch {
	case strings.HasPrefix(key, "header:"):
		return "balance hdr(" + strings.TrimPrefix(key, "header:") + ")"
	case strings.HasPrefix(key, "cookie:"):
		return "balance hash req.cook(" + strings.TrimPrefix(key, "cookie:") + ")"
	default:
		return "balance uri"
	}
}

// ms writes a duration in milliseconds, the unit both proxies accept.
func ms(d time.Duration) string {
	return fmt.Sprintf("%dms", max(d.Milliseconds(), 1))
}

// seconds rounds up to whole seconds, at least 1: nginx's fail_timeout
// takes no finer unit.
func seconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

func weight(w int) int { return max(w, 1) }

// prefixes returns the pools ordered by longest path prefix first, each with
// its prefix defaulted to "/".
func prefixes(pools []Pool) []Pool {
	out := append([]Pool(nil), pools...)
	for i := range out {
		if out[i].PathPrefix == "" {
			out[i].PathPrefix = "/"
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return len(out[a].PathPrefix) > len(out[b].PathPrefix) })
	return out
}

// safeName makes a pool name usable as an nginx upstream or HAProxy backend name.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return "pool_" + b.String()
}

// NginxConfig is the nginx.conf for cfg, listening on listen, with its pid,
// logs and temporary files under dir.
func NginxConfig(cfg Config, listen, dir string) (string, error) {
	lines, err := directives(Nginx, cfg.Strategy, cfg.HashKey, cfg.Cookie)
	if err != nil {
		return "", err
	}
	maxFails, failTimeout := cfg.Passive.MaxFails, cfg.Passive.FailTimeout
	if maxFails <= 0 {
		maxFails = 1 // nginx's default
	}
	if failTimeout <= 0 {
		failTimeout = 10 * time.Second // nginx's default
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by ilities: nginx in front of simulated backends\n")
	fmt.Fprintf(&b, "daemon off;\nmaster_process on;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n", dir, dir)
	fmt.Fprintf(&b, "events { worker_connections 4096; }\n")
	fmt.Fprintf(&b, "http {\n")
	fmt.Fprintf(&b, "  log_format ilities '$msec|$upstream_addr|$upstream_status|$status';\n")
	fmt.Fprintf(&b, "  access_log %s/access.log ilities;\n", dir)
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s/%s_temp;\n", t, dir, t)
	}
	fmt.Fprintf(&b, "  keepalive_requests 1000000;\n  keepalive_timeout 75s;\n")
	for _, p := range prefixes(cfg.Pools) {
		fmt.Fprintf(&b, "  upstream %s {\n", safeName(p.Name))
		for _, l := range lines {
			fmt.Fprintf(&b, "    %s\n", l)
		}
		for _, u := range p.Upstreams {
			fmt.Fprintf(&b, "    server %s weight=%d max_fails=%d fail_timeout=%ds;\n", u.Addr, weight(u.Weight), maxFails, seconds(failTimeout))
		}
		fmt.Fprintf(&b, "    keepalive 256;\n  }\n")
	}
	fmt.Fprintf(&b, "  server {\n    listen %s;\n", listen)
	fmt.Fprintf(&b, "    location = %s { access_log off; return 200 \"ok\\n\"; }\n", HealthPath)
	for _, p := range prefixes(cfg.Pools) {
		fmt.Fprintf(&b, "    location %s {\n", p.PathPrefix)
		fmt.Fprintf(&b, "      proxy_pass http://%s;\n", safeName(p.Name))
		fmt.Fprintf(&b, "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n")
		fmt.Fprintf(&b, "      proxy_connect_timeout 1s;\n      proxy_read_timeout %s;\n      proxy_send_timeout %s;\n", ms(timeout), ms(timeout))
		fmt.Fprintf(&b, "      proxy_next_upstream error timeout;\n      proxy_next_upstream_tries %d;\n", max(cfg.Retries, 0)+1)
		fmt.Fprintf(&b, "      proxy_buffering off;\n    }\n")
	}
	fmt.Fprintf(&b, "  }\n}\n")
	return b.String(), nil
}

// HAProxyConfig is the haproxy.cfg for cfg, listening on listen, with its
// stats socket under dir.
func HAProxyConfig(cfg Config, listen, dir string) (string, error) {
	lines, err := directives(HAProxy, cfg.Strategy, cfg.HashKey, cfg.Cookie)
	if err != nil {
		return "", err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by ilities: HAProxy in front of simulated backends\n")
	fmt.Fprintf(&b, "global\n  maxconn 8192\n  stats socket %s/haproxy.sock mode 600 level admin\n  stats timeout 10s\n", dir)
	fmt.Fprintf(&b, "defaults\n  mode http\n  option http-keep-alive\n  timeout connect 1s\n  timeout client 60s\n  timeout server %s\n  timeout http-keep-alive 60s\n", ms(timeout))
	if cfg.Retries > 0 {
		fmt.Fprintf(&b, "  retries %d\n  option redispatch 1\n", cfg.Retries)
	} else {
		fmt.Fprintf(&b, "  retries 0\n")
	}
	fmt.Fprintf(&b, "frontend ilities\n  bind %s\n  monitor-uri %s\n", listen, HealthPath)
	ordered := prefixes(cfg.Pools)
	for _, p := range ordered {
		if p.PathPrefix != "/" {
			fmt.Fprintf(&b, "  use_backend %s if { path_beg %s }\n", safeName(p.Name), p.PathPrefix)
		}
	}
	fmt.Fprintf(&b, "  default_backend %s\n", safeName(ordered[len(ordered)-1].Name))
	for _, p := range ordered {
		fmt.Fprintf(&b, "backend %s\n", safeName(p.Name))
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		check := ""
		if h := cfg.Health; h != nil {
			path := h.Path
			if path == "" {
				path = "/"
			}
			fmt.Fprintf(&b, "  option httpchk GET %s\n", path)
			if h.Timeout > 0 {
				fmt.Fprintf(&b, "  timeout check %s\n", ms(h.Timeout))
			}
			check = fmt.Sprintf(" check inter %s fall %d rise %d", ms(h.Interval), max(h.Fall, 1), max(h.Rise, 1))
		}
		for _, u := range p.Upstreams {
			cookie := ""
			if cfg.Strategy == "cookie" {
				cookie = " cookie " + u.Name
			}
			fmt.Fprintf(&b, "  server %s %s weight %d%s%s\n", u.Name, u.Addr, weight(u.Weight), check, cookie)
		}
	}
	return b.String(), nil
}
