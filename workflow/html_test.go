package workflow

import (
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
)

func TestCompareHTML(t *testing.T) {
	rt := 0.5
	c := &Comparison{Scenario: "s", By: "strategy", Rows: []Row{
		{Name: "round-robin", Verdict: "fail", P99MS: 80, RecoveryTimeS: &rt},
		{Name: "least-connections", Verdict: "pass", P99MS: 20, DetectedBy: "active check"},
		{Name: "x<script>", Verdict: "error", Error: "nginx is not installed"},
	}, Results: make([]*report.Result, 3)}
	c.rank()
	var b strings.Builder
	if err := c.WriteHTML(&b, []report.Figure{{File: "a.png", Title: "p99", PNG: []byte{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"Content-Security-Policy", "least-connections &gt; round-robin &gt; x&lt;script&gt;", "data:image/png;base64,AQI=", "0.500s", "detection by active check"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("a variant name was not escaped")
	}
	if strings.Index(page, ">least-connections<") > strings.Index(page, ">round-robin<") {
		t.Error("rows not in rank order")
	}
}

// Variants run several times: the page gives each figure's interval and
// says which steps of the ranking are significant.
func TestCompareHTMLRepeated(t *testing.T) {
	rep := func(p99, low, high float64, passed int) *Repeated {
		return &Repeated{Runs: 5, Passed: passed, P99MS: Interval{p99, low, high}, ThroughputRPS: Interval{300, 295, 305}}
	}
	c := &Comparison{Scenario: "s", By: "strategy", Repeat: 5, Rows: []Row{
		{Name: "round-robin", Verdict: "fail", P99MS: 1650, Repeated: rep(1650, 1356, 2214, 0)},
		{Name: "least-connections", Verdict: "pass", P99MS: 50, Repeated: rep(50, 49.7, 51.2, 5)},
		{Name: "power-of-two", Verdict: "pass", P99MS: 51, Repeated: rep(51, 50.9, 51.7, 5)},
		{Name: "random", Verdict: "pass", P99MS: 58, Repeated: rep(58, 57, 59, 5)},
	}, Results: make([]*report.Result, 4)}
	c.rank()
	var b strings.Builder
	if err := c.WriteHTML(&b, nil); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"least-connections ≈ power-of-two &gt; random &gt; round-robin",
		"50.00ms [49.70, 51.20]",
		"least-connections and power-of-two cannot be told apart: their 95% intervals of p99 overlap (not significant)",
		"power-of-two &gt; random is significant: their 95% intervals of p99 do not overlap",
		"random &gt; round-robin by their runs&#39; verdicts: 5/5 of random met every requirement, 0/5 of round-robin",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
