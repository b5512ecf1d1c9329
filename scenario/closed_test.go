package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClosedWorkloadAndSessionLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cart.json"), []byte(`{"sku":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "shop.yaml")
	sc, err := Parse(file, []byte(`
duration: 30s
warmup: 5s
target: {urls: ['http://127.0.0.1:8001', 'http://127.0.0.1:8002']}
workload:
  - name: shoppers
    model: closed
    stages: [{ramp_to: 20, over: 10s}, {hold: 20, for: 20s}]
    think_time: {dist: exponential, mean: 500ms}
    client: {http: 2, keepalive: false, insecure: true, max_connections: 8}
    session:
      - {method: POST, path: /login, expect: {status: [200, 302]}}
      - {method: POST, path: /cart, body_file: cart.json}
      - {path: /cart, expect: {body_contains: sku}}
  - name: background
    rate: 100/s
    client: {http: 1.1}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := sc.Workload[0]
	if !w.Closed() || w.MaxUsers(sc.Duration.D()) != 20 || w.Client.HTTP != HTTP2 || w.Client.KeepsAlive() || !w.Client.Insecure || w.Client.MaxConnections != 8 {
		t.Errorf("workload %+v", w)
	}
	if len(w.Session) != 3 || w.Session[2].Method != "GET" || w.Session[2].Expect.BodyContains != "sku" || len(w.Requests) != 0 {
		t.Errorf("session %+v requests %+v", w.Session, w.Requests)
	}
	if body, err := sc.ReadBody(w.Session[1]); err != nil || string(body) != `{"sku":1}` {
		t.Errorf("body_file: %q %v", body, err)
	}
	if sc.Warmup.D() != 5*time.Second || strings.Join(sc.Target.URLList(), " ") != "http://127.0.0.1:8001 http://127.0.0.1:8002" {
		t.Errorf("warmup %s target %+v", sc.Warmup, sc.Target)
	}
	if bg := sc.Workload[1]; bg.Client.HTTP != HTTP1 || !bg.Client.KeepsAlive() || bg.Concurrency(sc.Duration.D()) != DefaultMaxInflight {
		t.Errorf("background %+v", bg)
	}
}

func TestLoadModelErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"closed with a rate", "workload: [{model: closed, users: 2, rate: 5/s}]", "a closed workload has users, not a rate"},
		{"closed without users", "workload: [{model: closed}]", "a closed workload needs users"},
		{"users and stages", "workload: [{model: closed, users: 2, stages: [{hold: 3, for: 1s}]}]", "users: and stages: exclude each other"},
		{"users on an open workload", "workload: [{rate: 5/s, users: 3}]", "users: belongs to model: closed"},
		{"session on an open workload", "workload: [{rate: 5/s, session: [{path: /}]}]", "session: belongs to model: closed"},
		{"session and requests", "workload: [{model: closed, users: 1, session: [{path: /}], requests: [{path: /x}]}]", "session: and requests: exclude each other"},
		{"bad think time", "workload: [{model: closed, users: 1, think_time: {dist: exponential}}]", "exponential needs mean"},
		{"bad step path", "workload: [{model: closed, users: 1, session: [{path: nope}]}]", `path must start with "/"`},
		{"body and body_file", "workload: [{rate: 1/s, requests: [{body: x, body_file: y}]}]", "body: and body_file: exclude each other"},
		{"missing body_file", "workload: [{rate: 1/s, requests: [{body_file: no/such/file}]}]", "no such file or directory"},
		{"absolute body_file", "workload: [{rate: 1/s, requests: [{body_file: /etc/hostname}]}]", "an absolute path is allowed only under a folder given with --allow-paths"},
		{"bad http version", "workload: [{rate: 1/s, client: {http: 3}}]", "expected http: 1.1 or http: 2"},
		{"unknown model", "workload: [{model: clsoed, users: 1}]", `did you mean "closed"`},
		{"warm-up as long as the run", "duration: 5s\nwarmup: 5s\nworkload: [{rate: 1/s}]", "warmup must be shorter than duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte("target: {url: http://127.0.0.1:1}\n"+tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	_, err := Parse("s.yaml", []byte("target: {urls: ['http://a:1', 'ftp://b']}\nworkload: [{rate: 1/s}]"))
	if err == nil || !strings.Contains(err.Error(), `got "ftp://b"`) {
		t.Errorf("bad urls entry: %v", err)
	}
}
