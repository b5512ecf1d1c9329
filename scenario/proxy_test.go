package scenario

import (
	"strings"
	"testing"
	"time"
)

func TestProxyOptionsParse(t *testing.T) {
	s, err := Parse("p.yaml", []byte(strings.Join([]string{
		"sut:",
		"  proxy:",
		"    strategy: consistent-hash",
		"    hash: {key: 'header:X-User', method: rendezvous, bounded_load: 1.25}",
		"    replicas: 2",
		"    health: {interval: 250ms, fall: 3}",
		"    passive: {consecutive_failures: 3, eject_for: 5s}",
		"    all_down: panic",
		"    slow_start: 10s",
		"    retries: 1",
		"    admission: {max_inflight: 64, queue: 128, queue_timeout: 500ms, session_aware: true}",
		"    limits: {max_header_bytes: 16KiB, read_header_timeout: 2s}",
		"    rate_limit: {rate: 100/s}",
		"    tls: true",
		"  pools:",
		"    - name: a",
		"      match: {host: a.example, path_prefix: /a/}",
		"      backends: [{name: a1}]",
		"    - name: rest",
		"      backends: [{name: r1}]",
		"workload: [{rate: 10/s}]",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	o := s.SUT.Proxy.ProxyOptions
	if o.Replicas != 2 || o.Hash.Key != "header:X-User" || o.Hash.Method != "rendezvous" || o.Hash.BoundedLoad != 1.25 ||
		o.Health.Interval.D() != 250*time.Millisecond || o.Health.Fall != 3 || o.Passive.MaxEjectedPercent != 0.5 ||
		o.AllDown != "panic" || o.Retries != 1 || o.RetryBudget != 0.2 || o.Admission.MaxInflight != 64 ||
		!o.Admission.SessionAware || o.Limits.MaxHeaderBytes != 16<<10 || o.RateLimit.Rate != 100 || !o.TLS {
		t.Fatalf("options: %+v", o)
	}
	if m := s.SUT.Pools[0].Match; m.Host != "a.example" || m.PathPrefix != "/a/" {
		t.Fatalf("match: %+v", m)
	}
}

func TestProxyOptionsValidation(t *testing.T) {
	_, err := Parse("p.yaml", []byte(strings.Join([]string{
		"sut:",
		"  proxy:",
		"    hash: {key: 'query:x'}",
		"    replicas: -1",
		"    all_down: maybe",
		"    health: {timeout: 1s}",
		"    admission: {max_inflight: 0}",
		"    rate_limit: {burst: 3}",
		"  pools: [{backends: [{name: a}]}]",
		"workload: [{rate: 10/s}]",
	}, "\n")))
	if err == nil {
		t.Fatal("invalid proxy options accepted")
	}
	for _, want := range []string{
		`p.yaml:3:`, `expected "path", "header:NAME" or "cookie:NAME"`, "hash: applies to strategy consistent-hash",
		"p.yaml:4:", "replicas must be at least 1", `unknown all_down mode "maybe"`,
		"health checks need interval", "max_inflight must be at least 1", "rate_limit needs rate",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors do not mention %q:\n%v", want, err)
		}
	}
}

func TestProxyAdminAddress(t *testing.T) {
	for _, tc := range []struct {
		name, sut string
		want      string // the admin address after defaults
		wantErr   string // "" for valid
	}{
		{"default", "{proxy: {}", DefaultAdmin, ""},
		{"fixed loopback port", "{proxy: {admin: '127.0.0.1:9901'}", "127.0.0.1:9901", ""},
		{"IPv6 loopback", "{proxy: {admin: '[::1]:0'}", "[::1]:0", ""},
		{"every interface", "{proxy: {admin: '0.0.0.0:9901'}", "", `k.yaml:1:22: expected a loopback address such as "127.0.0.1:0"`},
		{"no host", "{proxy: {admin: ':9901'}", "", "expected a loopback address"},
		{"a name", "{proxy: {admin: 'localhost:9901'}", "", "expected a loopback address"},
		{"no port", "{proxy: {admin: '127.0.0.1'}", "", `expected a loopback host:port such as "127.0.0.1:0", got "127.0.0.1"`},
		{"the proxy's own port", "{listen: '127.0.0.1:8080', proxy: {admin: '127.0.0.1:8080'}", "", "the admin listener needs a port of its own"},
		{"both on any port", "{listen: '127.0.0.1:0', proxy: {admin: '127.0.0.1:0'}", "127.0.0.1:0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("k.yaml", []byte("sut: "+tc.sut+", pools: [{name: a, backends: [{name: a1}]}]}\nworkload: [{rate: 10/s}]\n"))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := s.SUT.Proxy.Admin; got != tc.want {
					t.Errorf("admin %q, want %q", got, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
