package scenario

import (
	"slices"
	"strings"
	"testing"
)

func TestRequestNames(t *testing.T) {
	sc, err := Parse("s.yaml", lines(
		"target: {url: http://127.0.0.1:8080}",
		"workload:",
		"  - name: shop",
		"    rate: 5/s",
		"    requests:",
		"      - {path: '/products/{{random 1 1000}}'}",
		"      - {method: POST, path: /cart, name: add to cart}",
		"  - name: buyers",
		"    model: closed",
		"    users: 1",
		"    session:",
		"      - {path: /}",
		"      - {method: POST, path: /checkout}",
		"requirements:",
		`  - p95(latency) < 300ms for "add to cart"`,
		`  - error_rate < 1% for "POST /checkout"`,
		"  - error_rate < 1% for shop",
	))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sc.Workload[0].RequestNames(), []string{"GET /products/{{random 1 1000}}", "add to cart"}; !slices.Equal(got, want) {
		t.Errorf("mix names %q, want %q", got, want)
	}
	if got, want := sc.Workload[1].RequestNames(), []string{"GET /", "POST /checkout"}; !slices.Equal(got, want) {
		t.Errorf("session names %q, want %q", got, want)
	}
	scopes := []struct {
		scope   string
		request bool
	}{{"add to cart", true}, {"POST /checkout", true}, {"shop", false}}
	for i, want := range scopes {
		if r := sc.Requirements[i]; r.Scope != want.scope || r.RequestScope != want.request {
			t.Errorf("requirement %q: scope %q (request %v), want %q (%v)", r.Text, r.Scope, r.RequestScope, want.scope, want.request)
		}
	}
}

func TestRequestNameErrors(t *testing.T) {
	target := "target: {url: http://127.0.0.1:8080}"
	tests := []struct {
		name string
		yaml []byte
		want string // the whole message
	}{
		{
			name: "two default names collide",
			yaml: lines(target, "workload:", "  - rate: 5/s", "    requests:", "      - {path: /a, body: x}", "      - {path: /a, body: y}"),
			want: `s.yaml:6:9: request "GET /a" has the same default name (method and path) as workload[0].requests[0]; each request of a workload needs a name of its own: give one a name: such as "GET /a (2)"`,
		},
		{
			name: "two session steps named alike",
			yaml: lines(target, "workload:", "  - {model: closed, users: 1, session: [{path: /a, name: step}, {path: /b, name: step}]}"),
			want: `s.yaml:3:82: request "step" has the same name as workload[0].session[0]; each request of a workload needs a name of its own: give one a name: such as "step (2)"`,
		},
		{
			name: "a quoted scope names no request",
			yaml: lines(target, "workload: [{name: w, rate: 5/s, requests: [{path: /cart, method: POST}, {path: /}]}]", "requirements:", `  - p95(latency) < 300ms for "POST /crat"`),
			want: `s.yaml:4:5: unknown request "POST /crat" after "for" (did you mean "POST /cart"?); requests: "POST /cart", "GET /"`,
		},
		{
			name: "a quoted scope is not a workload",
			yaml: lines(target, "workload: [{name: w, rate: 5/s}]", "requirements:", `  - error_rate < 1% for "w"`),
			want: `s.yaml:4:5: unknown request "w" after "for"; requests: "GET /"`,
		},
		{
			name: "a request name two workloads send",
			yaml: lines(target, "workload: [{name: a, rate: 5/s}, {name: b, rate: 5/s}]", "requirements:", `  - error_rate < 1% for "GET /"`),
			want: `s.yaml:4:5: request "GET /" after "for" is sent by workloads a and b; give it a name of its own (name:) in the one to require`,
		},
		{
			name: "a bare scope stays a workload",
			yaml: lines(target, "workload: [{name: w, rate: 5/s}]", "requirements:", `  - error_rate < 1% for GET`),
			want: `s.yaml:4:5: unknown workload "GET" after "for"; workloads: w`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", tt.yaml)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestParseRequirementScope(t *testing.T) {
	tests := []struct {
		in      string
		scope   string
		request bool
		wantErr string
	}{
		{in: `p95(latency) < 300ms for "POST /cart"`, scope: "POST /cart", request: true},
		{in: `p95(latency) < 300ms for "GET  /a for b"`, scope: "GET  /a for b", request: true},
		{in: `p95(latency) < 300ms for "say \"hi\""`, scope: `say "hi"`, request: true},
		{in: `p95(latency) < 300ms for browse`, scope: "browse"},
		{in: `p95(latency) <= baseline * 1.10 for "POST /cart"`, scope: "POST /cart", request: true},
		{in: `p95(latency) < 300ms forever`, wantErr: `p95(latency) needs a duration`},
		{in: `p95(latency) < 300ms for "POST /cart`, wantErr: `after "for", a request name is one double-quoted string such as "POST /cart", got "POST /cart`},
		{in: `p95(latency) < 300ms for ""`, wantErr: `after "for", a request name is one double-quoted string`},
	}
	for _, tt := range tests {
		r, err := ParseRequirement(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRequirement(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseRequirement(%q): %v", tt.in, err)
		case r.Scope != tt.scope || r.RequestScope != tt.request || (r.Threshold != 300 && r.Baseline == nil):
			t.Errorf("ParseRequirement(%q) = scope %q request %v threshold %v, want %q %v 300", tt.in, r.Scope, r.RequestScope, r.Threshold, tt.scope, tt.request)
		}
	}
}
