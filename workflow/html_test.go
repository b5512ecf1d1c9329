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
