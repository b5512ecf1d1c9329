package scenario

import (
	"strings"
	"testing"
)

func TestProxyKindValidation(t *testing.T) {
	cases := []struct {
		name, proxy string
		wantErr     string // "" for valid
	}{
		{"default is builtin", "{strategy: least-response-time}", ""},
		{"nginx least-connections", "{kind: nginx, strategy: least-connections}", ""},
		{"haproxy cookie", "{kind: haproxy, strategy: cookie}", ""},
		{"haproxy with health", "{kind: haproxy, strategy: power-of-two, health: {interval: 250ms}}", ""},
		{"unknown kind", "{kind: envoy}", `unknown proxy kind "envoy"`},
		{"nginx has no EWMA", "{kind: nginx, strategy: least-response-time}", "with kind nginx use one of round-robin, weighted-round-robin, least-connections"},
		{"nginx has no sticky cookie", "{kind: nginx, strategy: cookie}", `nginx has no strategy "cookie"`},
		{"haproxy resource-aware", "{kind: haproxy, strategy: resource-aware}", `haproxy has no strategy "resource-aware"`},
		{"builtin-only options", "{kind: nginx, replicas: 2, admission: {max_inflight: 4}}", "kind nginx does not support replicas, admission"},
		{"the admin listener is the builtin's", "{kind: haproxy, admin: '127.0.0.1:9901'}", "kind haproxy does not support admin"},
		{"the admin default is left alone", "{kind: nginx, admin: '127.0.0.1:0'}", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse("k.yaml", []byte("sut: {proxy: "+c.proxy+", pools: [{name: a, backends: [{name: a1}]}]}\nworkload: [{rate: 10/s}]\n"))
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.SUT.Proxy.Kind == "" {
					t.Error("kind left empty after defaults")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}
