package main

import (
	"strings"
	"testing"
)

// compare and capacity reject bad input before running anything.
func TestWorkflowCommandsUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"compare", "../../examples/slow-node.yaml"}, "--strategies"},
		{[]string{"compare", "../../examples/slow-node.yaml", "--strategies", "round-robin,least-conections"}, `did you mean "least-connections"`},
		{[]string{"compare", "../../examples/slow-node.yaml", "--proxies", "nginx", "--strategies", "random"}, "not both"},
		{[]string{"compare", "../../examples/slow-node.yaml", "--proxies", "builtin,traefik"}, `unknown proxy kind "traefik"`},
		{[]string{"compare", "../../examples/sticky-sessions.yaml", "--proxies", "nginx"}, "nginx has no strategy"},
		{[]string{"capacity", "../../examples/capacity.yaml", "--backends", "0"}, "at least 1"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitInvalid || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", c.args, code, stderr, c.want)
		}
	}
}
