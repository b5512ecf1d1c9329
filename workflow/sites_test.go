package workflow

import (
	"context"
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

// TestWorkflowsRefuseSeveralSites: compare, capacity and capacity
// --backends vary one built-in SUT, so a scenario of several sites is
// refused at its sites: key, before anything runs.
func TestWorkflowsRefuseSeveralSites(t *testing.T) {
	sc, err := scenario.Load("../examples/two-sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"compare", func() error {
			_, err := Compare(ctx, sc, CompareOptions{Strategies: []string{"random", "round-robin"}, Simulate: true})
			return err
		}},
		{"capacity", func() error { _, err := FindCapacity(ctx, sc, CapacityOptions{Simulate: true}); return err }},
		{"capacity --backends", func() error { _, err := WithBackends(sc, 2); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), "two-sites.yaml:21:3: "+tc.name+" varies one built-in sut:") {
				t.Fatalf("%s: %v, want the sites: key refused", tc.name, err)
			}
		})
	}
}
