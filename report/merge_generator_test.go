package report

import (
	"fmt"
	"testing"
)

// Merged segments name each workload's engine as the parts do, and
// "mixed" where they differ.
func TestMergeGeneratorEngines(t *testing.T) {
	cases := []struct {
		name  string
		parts []map[string]string
		want  map[string]string
	}{
		{"alike", []map[string]string{{"a": "event-loop", "b": "goroutines"}, {"a": "event-loop", "b": "goroutines"}},
			map[string]string{"a": "event-loop", "b": "goroutines"}},
		{"one part off the loop", []map[string]string{{"a": "event-loop"}, {"a": "goroutines"}}, map[string]string{"a": "mixed"}},
		{"none named", []map[string]string{nil, nil}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var parts []*Result
			for i, e := range tc.parts {
				parts = append(parts, &Result{Segment: fmt.Sprintf("%d/%d", i+1, len(tc.parts)), Generator: Generator{Engines: e}})
			}
			g, err := mergeGenerators(parts)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(g.Engines) != fmt.Sprint(tc.want) {
				t.Fatalf("engines %v, want %v", g.Engines, tc.want)
			}
		})
	}
}
