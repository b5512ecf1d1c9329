package report

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestSaturationTitle: a run whose arrivals waited for max_inflight's
// slots, every one held by a request the target had not answered, is
// named for that bound in every report, never a saturated generator; a
// run whose generator could not keep up is named for the generator.
func TestSaturationTitle(t *testing.T) {
	writers := []struct {
		name  string
		write func(io.Writer, *Result) error
	}{
		{"text", WriteText}, {"markdown", WriteMarkdown}, {"junit", WriteJUnit}, {"html", WriteHTML},
	}
	cases := []struct {
		name          string
		inflightBound bool
		want, absent  string
		caveat        string
	}{
		{"generator", false, "GENERATOR SATURATED", "MAX_INFLIGHT", "(generator saturated"},
		{"in-flight bound", true, "LOAD HELD BY MAX_INFLIGHT", "GENERATOR SATURATED", "(load held by max_inflight, every slot awaiting the target"},
	}
	for _, c := range cases {
		res := saturatedResult()
		res.Generator.InflightBound = c.inflightBound
		for _, w := range writers {
			t.Run(c.name+"/"+w.name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := w.write(&buf, res); err != nil {
					t.Fatal(err)
				}
				out := buf.String()
				if !strings.Contains(out, c.want) || strings.Contains(out, c.absent) {
					t.Errorf("want %q and no %q in:\n%s", c.want, c.absent, out)
				}
			})
		}
		if got := verdictSummary(res); !strings.Contains(got, c.caveat) {
			t.Errorf("%s: verdict line %q, want %q", c.name, got, c.caveat)
		}
	}
}
