package sim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

// Each part of a scenario the model does not hold yet is refused before
// anything runs, named, at its file:line:column: one row each. A row's
// scenario marks the line the error must point at with "# here".
func TestUnsupportedIsNamedAtItsPlace(t *testing.T) {
	const backends = "  pools: [{name: app, backends: [{name: b1}]}]\n"
	const load = "workload: [{rate: 10/s, requests: [{path: /}]}]\n"
	builtin := func(proxy string) string {
		return "sut:\n  proxy: {" + proxy + "}  # here\n" + backends + load
	}
	for _, tc := range []struct {
		what, yaml string
	}{
		{"an external target (target:)", "target: {url: 'http://127.0.0.1:1'}  # here\n" + load},
		{"a real proxy (kind: nginx)", builtin("kind: nginx")},
		{"TLS termination (tls: true)", builtin("tls: true")},
		{"extracting from an answer (extract:; the model has no answer bodies or headers, and a value not found fails its step)", "sut:\n" + backends + "workload:\n  - model: closed\n    users: 2\n    session:\n      - path: /login\n        extract: {token: {json: token}}  # here\n      - {path: '/cart/{{token}}'}\n"},
		{"a WebSocket session (websocket:)", "sut:\n" + backends + "workload:\n  - rate: 10/s\n    requests:\n      - path: /chat\n        websocket: {messages: 3}  # here\n"},
		{"a templated path whose pool depends on its values ({{...}})", "sut:\n  pools:\n    - {name: v2, match: {path_prefix: /items/v2}, backends: [{name: b1}]}\n    - {name: rest, backends: [{name: b2}]}\n" +
			"workload:\n  - rate: 10/s\n    requests:\n      - {path: '/items/{{uuid}}'}  # here\n"},
		{"a templated path, which the consistent-hash policy reads ({{...}})", "sut:\n  proxy: {strategy: consistent-hash}\n" + backends +
			"workload:\n  - rate: 10/s\n    requests:\n      - {path: '/items/{{uuid}}'}  # here\n"},
		{"a templated Cookie header, whose cookies stickiness and sessions read ({{...}})", "sut:\n" + backends + "workload:\n  - model: closed\n    users: 2\n    session:\n      - path: /\n        headers: {Cookie: 'sid={{user_id}}'}  # here\n"},
		{"a templated header the consistent-hash policy reads ({{...}})", "sut:\n  proxy: {strategy: consistent-hash, hash: {key: 'header:X-User'}}\n" + backends +
			"workload:\n  - rate: 10/s\n    requests:\n      - path: /\n        headers: {x-user: 'u{{iteration}}'}  # here\n"},
		{"a templated body that may be over the proxy's max_body_bytes (its 413)", "sut:\n  proxy: {limits: {max_body_bytes: 1KiB}}\n" + backends +
			"workload:\n  - rate: 10/s\n    requests:\n      - {method: POST, path: /, body: '" + strings.Repeat("{{uuid}}", 30) + "'}  # here\n"},
		{"a templated request head that may near the proxy's max_header_bytes (its 431)", "sut:\n  proxy: {limits: {max_header_bytes: 1KiB}}\n" + backends +
			"workload:\n  - rate: 10/s\n    requests:\n      - {path: /, headers: {X-Big: '" + strings.Repeat("{{uuid}}", 20) + "'}}  # here\n"},
		{"checking an answer's body or headers (expect:)", "sut:\n" + backends + "workload:\n  - rate: 10/s\n    expect: {body_contains: ok}  # here\n    requests: [{path: /}]\n"},
		{"checking an answer's body or headers (expect:)", "sut:\n" + backends + "workload:\n  - rate: 10/s\n    requests:\n      - path: /\n        expect: {headers: {X-Ilities-Backend: b}}  # here\n"},
		{"HTTP/2 (http: 2; the built-in proxy speaks HTTP/1.1, so live every request fails)", "sut:\n" + backends + "workload:\n  - rate: 10/s\n    client: {http: 2}  # here\n    requests: [{path: /}]\n"},
		{"a request head near the proxy's max_header_bytes (its 431)", "sut:\n  proxy: {limits: {max_header_bytes: 1KiB}}\n" + backends +
			"workload:\n  - rate: 10/s\n    requests:\n      - {path: /, headers: {X-Big: " + strings.Repeat("x", 600) + "}}  # here\n"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "s.yaml")
			yaml := "name: u\nduration: 1s\n" + tc.yaml
			if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte("name\nann\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			sc, err := scenario.Load(file)
			if err != nil {
				t.Fatalf("the scenario does not load: %v", err)
			}
			line := 1 + strings.Count(yaml[:strings.Index(yaml, "# here")], "\n")
			err = Unsupported(sc)
			var errs scenario.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Unsupported = %v, want scenario.Errors", err)
			}
			at := file + ":" + strconv.Itoa(line) + ":"
			found := false
			for _, e := range errs {
				found = found || strings.HasPrefix(e.Error(), at) && strings.Contains(e.Msg, tc.what+" is not simulated yet")
			}
			if !found {
				t.Errorf("no error at %s naming %q:\n%v", at, tc.what, err)
			}
			if _, runErr := Run(context.Background(), sc, DefaultOptions()); runErr == nil || runErr.Error() != err.Error() {
				t.Errorf("Run = %v, want Unsupported's error", runErr)
			}
		})
	}
	sc := parse(t, "duration: 1s\n"+"sut:\n"+backends+load)
	if err := Unsupported(sc); err != nil {
		t.Errorf("a plain scenario is refused: %v", err)
	}
}
