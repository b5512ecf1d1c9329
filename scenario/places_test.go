package scenario

import (
	"context"
	"strings"
	"testing"
)

// A problem found after loading is placed as validation places its own: at
// the value the file writes, at the mapping a defaulted value is missing
// from, or named by the flag that set it.
func TestErrorAtPlacesAProblemInTheFile(t *testing.T) {
	const file = `name: places
duration: 5s
sut:
  proxy:
    strategy: round-robin
    retries: 2
  pools:
    - name: app
      backends:
        - {name: a1, workers: 2}
workload:
  - rate: 10/s
    requests: [{path: /}]
`
	set, err := ParseSet("workload.0.timeout=3s")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := LoadWith(context.Background(), StdinPath, LoadOptions{Stdin: strings.NewReader(file), Sets: []Set{set}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{"sut.proxy.retries", "<stdin>:6:14: not here"},
		{"sut.pools[0].backends[0].workers", "<stdin>:10:31: not here"},
		{"sut.proxy.health", "<stdin>:5:5: not here"}, // defaulted: the proxy's mapping
		{"workload[0].requests[0]", "<stdin>:13:16: not here"},
		{"workload[0].timeout", "--set workload.0.timeout: not here"},
		{"faults", "<stdin>:1:1: not here"}, // not written at all: the document
	} {
		if got := sc.ErrorAt(tc.path, "not here").Error(); got != tc.want {
			t.Errorf("ErrorAt(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	built := &Scenario{File: "built.yaml"}
	if got, want := built.ErrorAt("sut.proxy.retries", "not here").Error(), "built.yaml:sut.proxy.retries: not here"; got != want {
		t.Errorf("a scenario built in code: %q, want %q", got, want)
	}
}
