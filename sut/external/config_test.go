package external

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
)

func testConfig(kind, strategy string) Config {
	return Config{
		Kind: kind, Strategy: strategy, HashKey: "header:X-User",
		Health:  &Health{Interval: 250 * time.Millisecond, Timeout: 200 * time.Millisecond, Fall: 2, Rise: 3},
		Passive: Passive{MaxFails: 2, FailTimeout: 5 * time.Second},
		Pools: []Pool{
			{Name: "app", Upstreams: []Upstream{{Name: "app-1", Addr: "127.0.0.1:9001", Weight: 1}, {Name: "app-2", Addr: "127.0.0.1:9002", Weight: 3}}},
			{Name: "api", PathPrefix: "/api", Upstreams: []Upstream{{Name: "api-1", Addr: "127.0.0.1:9003"}}},
		},
	}
}

// Each strategy maps to the proxy's own directive, and the generated
// configuration passes the real binary's own syntax check (skipped, saying
// why, when the binary is not installed).
func TestStrategyDirectives(t *testing.T) {
	cases := []struct {
		kind, strategy string
		want           []string // substrings of the configuration
	}{
		{Nginx, "round-robin", []string{"server 127.0.0.1:9002 weight=3 max_fails=2 fail_timeout=5s;"}},
		{Nginx, "least-connections", []string{"least_conn;"}},
		{Nginx, "ip-hash", []string{"ip_hash;"}},
		{Nginx, "consistent-hash", []string{"hash $http_x_user consistent;"}},
		{Nginx, "random", []string{"random;"}},
		{Nginx, "power-of-two", []string{"random two least_conn;"}},
		{HAProxy, "round-robin", []string{"balance roundrobin", "check inter 250ms fall 2 rise 3", "option httpchk GET /"}},
		{HAProxy, "least-connections", []string{"balance leastconn"}},
		{HAProxy, "ip-hash", []string{"balance source"}},
		{HAProxy, "consistent-hash", []string{"balance hdr(X-User)", "hash-type consistent"}},
		{HAProxy, "random", []string{"balance random(1)"}},
		{HAProxy, "power-of-two", []string{"balance random(2)"}},
		{HAProxy, "cookie", []string{"cookie ilities_node insert indirect nocache", "cookie app-1"}},
	}
	for _, c := range cases {
		t.Run(c.kind+"/"+c.strategy, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(c.kind, c.strategy)
			var text string
			var err error
			if c.kind == Nginx {
				text, err = NginxConfig(cfg, "127.0.0.1:8080", dir)
			} else {
				text, err = HAProxyConfig(cfg, "127.0.0.1:8080", dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("configuration lacks %q:\n%s", w, text)
				}
			}
			t.Run("syntax check", func(t *testing.T) {
				bin, err := Binary(c.kind)
				if err != nil {
					t.Skipf("no syntax check: %v", err)
				}
				file := filepath.Join(dir, "proxy.conf")
				writeFile(t, file, text)
				var cmd *exec.Cmd
				if c.kind == Nginx {
					cmd = exec.Command(bin, "-t", "-p", dir, "-c", file, "-e", filepath.Join(dir, "error.log"))
				} else {
					cmd = exec.Command(bin, "-c", "-f", file)
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s rejects the configuration: %v\n%s\n%s", c.kind, err, out, text)
				}
			})
		})
	}
}

// Validation accepts for a real proxy exactly the strategies mapped here:
// a scenario it passes never fails at start, and a mapped strategy is never
// refused.
func TestMappedStrategiesAreThoseValidationAccepts(t *testing.T) {
	for _, kind := range []string{Nginx, HAProxy} {
		accepted := slices.Sorted(slices.Values(scenario.ExternalStrategies[kind]))
		if got := Strategies(kind); !slices.Equal(got, accepted) {
			t.Errorf("%s: mapped %v, scenario.ExternalStrategies has %v", kind, got, accepted)
		}
	}
}

func TestUnmappableStrategy(t *testing.T) {
	for _, kind := range []string{Nginx, HAProxy} {
		_, err := directives(kind, "least-response-time", "", "")
		if err == nil || !strings.Contains(err.Error(), "least-connections") {
			t.Errorf("%s: want an error naming the alternatives, got %v", kind, err)
		}
	}
	if _, err := directives(Nginx, "cookie", "", ""); err == nil {
		t.Error("nginx (open source) has no sticky cookie: want an error")
	}
}

func TestSplitList(t *testing.T) {
	got := splitList("127.0.0.1:1, 127.0.0.1:2 : 127.0.0.1:3")
	want := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("splitList = %q, want %q", got, want)
	}
}

// nginx's passive rule replayed from its access log: max_fails failed
// attempts make a backend unavailable, a success makes it available.
func TestNginxWatcherReplaysMaxFails(t *testing.T) {
	w := newNginxWatcher("", testConfig(Nginx, "round-robin"))
	for _, l := range []string{
		"100.000|127.0.0.1:9001|200|200",
		"100.100|127.0.0.1:9002, 127.0.0.1:9001|502, 200|200",
		"100.200|127.0.0.1:9001|200|200",
		"100.300|127.0.0.1:9002|502|502",
		"100.400|127.0.0.1:9002|200|200",
	} {
		w.line(l)
	}
	evs := w.evs
	if len(evs) != 2 || evs[0].Upstream != "app-2" || evs[0].Healthy || !evs[1].Healthy {
		t.Fatalf("events = %+v, want app-2 down at 100.3 then up at 100.4", evs)
	}
	if d := evs[0].At.Sub(time.Unix(100, 300e6)); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("down at %v, want 100.300", evs[0].At)
	}
	if w.count["app-1"] != 3 || w.count["app-2"] != 3 {
		t.Errorf("attempts = %v, want app-1 3, app-2 3", w.count)
	}
}

func TestMissingBinaryNamesPackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	saved := sbinDirs
	sbinDirs = nil
	defer func() { sbinDirs = saved }()
	for kind, pkg := range map[string]string{Nginx: "nginx-light", HAProxy: "apt-get install haproxy"} {
		if _, err := Binary(kind); err == nil || !strings.Contains(err.Error(), pkg) {
			t.Errorf("%s: want an error naming %q, got %v", kind, pkg, err)
		}
		if _, err := Start(t.Context(), Config{Kind: kind, Strategy: "round-robin"}); err == nil || !strings.Contains(err.Error(), pkg) {
			t.Errorf("Start %s: want an error naming %q, got %v", kind, pkg, err)
		}
	}
}
