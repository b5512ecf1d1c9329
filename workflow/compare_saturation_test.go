package workflow

import (
	"bytes"
	"strings"
	"testing"
)

// TestCompareNamesWhatHeldTheLoad: the comparison table names a saturated
// variant's cause as the reports do: max_inflight when it held the load,
// the generator otherwise.
func TestCompareNamesWhatHeldTheLoad(t *testing.T) {
	c := &Comparison{Rows: []Row{
		{Rank: 1, Name: "held", Verdict: "inconclusive", Saturated: true, InflightBound: true},
		{Rank: 2, Name: "slow-generator", Verdict: "inconclusive", Saturated: true},
	}, Ranking: []string{"held", "slow-generator"}}
	var buf bytes.Buffer
	if err := c.WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 1 | held | inconclusive (load held by max_inflight, every slot awaiting the target",
		"| 2 | slow-generator | inconclusive (generator saturated",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("want %q in:\n%s", want, buf.String())
		}
	}
}
