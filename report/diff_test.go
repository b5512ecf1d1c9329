package report

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// sampledResult is a run whose latencies (ms) are samples, all succeeded
// but failed, over spanS seconds, with one workload and two request names
// (the samples split between them in turn).
func sampledResult(t *testing.T, latencies []float64, failed int64, spanS float64) *Result {
	t.Helper()
	stats := func(ms []float64, failed int64) Stats {
		h := NewHistogram()
		for _, v := range ms {
			RecordUS(h, int64(v*1000))
		}
		enc, err := EncodeHistogram(h)
		if err != nil {
			t.Fatal(err)
		}
		n := int64(len(ms))
		s := Stats{Totals: Totals{Scheduled: n + failed, Succeeded: n, Failed: failed}, LatencyMS: PercentilesOf(h), Histograms: Histograms{Latency: enc}}
		s.Derive(spanS)
		return s
	}
	var cart, products []float64
	for i, v := range latencies {
		if i%2 == 0 {
			products = append(products, v)
		} else {
			cart = append(cart, v)
		}
	}
	res := &Result{SchemaVersion: SchemaVersion, Scenario: "checkout", Seed: 42, MeasuredS: spanS, Verdict: VerdictPass, Stats: stats(latencies, failed)}
	res.Workloads = []WorkloadResult{{Name: "browse", Model: "open", Stats: res.Stats}}
	res.Requests = []RequestResult{
		{Name: "GET /products", Workload: "browse", Stats: stats(products, failed)},
		{Name: "POST /cart", Workload: "browse", Stats: stats(cart, 0)},
	}
	return res
}

// lognormalMS draws n latencies around a median of medianMS.
func lognormalMS(rng *rand.Rand, n int, medianMS float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = medianMS * math.Exp(0.6*rng.NormFloat64())
	}
	return out
}

func TestQuantileBounds(t *testing.T) {
	h := NewHistogram()
	for v := int64(1); v <= 10000; v++ {
		RecordUS(h, v*1000) // 1..10000 ms
	}
	cases := []struct {
		q      float64
		n      int // samples (the first n values), 0 for all
		ok     bool
		lo, hi float64 // the bounds must enclose the true quantile within these
	}{
		{q: 0.50, ok: true, lo: 4850, hi: 5150},
		{q: 0.99, ok: true, lo: 9850, hi: 9950},
		{q: 0.99, n: 500, ok: false}, // nq(1−q) < 10
	}
	for _, c := range cases {
		hist := h
		if c.n > 0 {
			hist = NewHistogram()
			for v := int64(1); v <= int64(c.n); v++ {
				RecordUS(hist, v*1000)
			}
		}
		lo, hi, ok := quantileBounds(hist, c.q, 1.96)
		if ok != c.ok {
			t.Fatalf("q %v n %d: ok %v, want %v", c.q, c.n, ok, c.ok)
		}
		if !ok {
			continue
		}
		truth := c.q * 10000
		if lo > truth || hi < truth || lo < c.lo || hi > c.hi {
			t.Errorf("q %v: bounds [%v, %v] do not enclose %v within [%v, %v]", c.q, lo, hi, truth, c.lo, c.hi)
		}
	}
}

// TestCompareFalseAlarmRate draws pairs of runs from one distribution and
// counts how often the gate calls the second worse: with the tolerances at
// 0 only the test stands between chance and a false alarm, and it must
// keep them under 1 − confidence. Then a 30% slower system must be worse
// in every pair.
func TestCompareFalseAlarmRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strict := DiffOptions{Confidence: 0.95}
	const pairs = 200
	alarms := 0
	for range pairs {
		old := sampledResult(t, lognormalMS(rng, 4000, 5), 0, 10)
		new := sampledResult(t, lognormalMS(rng, 4000, 5), 0, 10)
		d, err := Compare(old, new, strict)
		if err != nil {
			t.Fatal(err)
		}
		if d.Verdict == VerdictFail {
			alarms++
		}
	}
	t.Logf("identical systems, tolerances 0, 95%% confidence: %d false alarms in %d pairs", alarms, pairs)
	if limit := int(math.Ceil((1 - strict.Confidence) * pairs)); alarms > limit {
		t.Errorf("%d false alarms in %d pairs, more than the %d the confidence allows", alarms, pairs, limit)
	}
	for i := range 20 {
		old := sampledResult(t, lognormalMS(rng, 4000, 5), 0, 10)
		slow := sampledResult(t, lognormalMS(rng, 4000, 6.5), 0, 10)
		d, err := Compare(old, slow, DefaultDiffOptions())
		if err != nil {
			t.Fatal(err)
		}
		if d.Verdict != VerdictFail {
			t.Fatalf("pair %d: a system 30%% slower is %s: %s", i, d.Verdict, d.Reason)
		}
	}
}

func TestCompareVerdicts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := lognormalMS(rng, 6000, 5)
	same := lognormalMS(rng, 6000, 5)
	slower := lognormalMS(rng, 6000, 6.5)
	faster := lognormalMS(rng, 6000, 3.5)
	// Sub-millisecond latencies 30% slower: significant, beyond 10%, but
	// under the 1ms floor of a rise that matters.
	fastBase := lognormalMS(rng, 6000, 0.3)
	fastSlower := lognormalMS(rng, 6000, 0.39)
	cases := []struct {
		name     string
		old, new func() *Result
		verdict  string
		// reason and figure: a part of the reason, and a figure with its status
		reason string
		figure string
		status string
	}{
		{name: "same system", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result { return sampledResult(t, same, 0, 10) },
			verdict: VerdictPass, figure: "p99(latency)", status: DiffSame},
		{name: "slower", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result { return sampledResult(t, slower, 0, 10) },
			verdict: VerdictFail, reason: "run p50(latency) +", figure: "p50(latency)", status: DiffWorse},
		{name: "a sub-millisecond rise is under the floor", old: func() *Result { return sampledResult(t, fastBase, 0, 10) }, new: func() *Result { return sampledResult(t, fastSlower, 0, 10) },
			verdict: VerdictPass, figure: "p50(latency)", status: DiffSame},
		{name: "faster is no regression", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result { return sampledResult(t, faster, 0, 10) },
			verdict: VerdictPass, figure: "p50(latency)", status: DiffBetter},
		{name: "errors", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result { return sampledResult(t, base[:5880], 120, 10) },
			verdict: VerdictFail, reason: "run error_rate +2.0pp", figure: "error_rate", status: DiffWorse},
		{name: "a few errors are within the tolerance", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result { return sampledResult(t, base[:5997], 3, 10) },
			verdict: VerdictPass, figure: "error_rate", status: DiffSame},
		{name: "saturated baseline", old: func() *Result {
			r := sampledResult(t, base, 0, 10)
			r.Generator = Generator{Saturated: true, Reason: "arrivals dropped"}
			return r
		}, new: func() *Result { return sampledResult(t, slower, 0, 10) },
			verdict: VerdictInconclusive, reason: "the baseline is invalid: the generator saturated", figure: "p50(latency)", status: DiffWorse},
		{name: "saturated run still fails when worse", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result {
			r := sampledResult(t, slower, 0, 10)
			r.Generator = Generator{Saturated: true, Reason: "arrivals dropped"}
			return r
		}, verdict: VerdictFail, figure: "p50(latency)", status: DiffWorse},
		{name: "saturated run, nothing worse", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result {
			r := sampledResult(t, same, 0, 10)
			r.Generator = Generator{Saturated: true, Reason: "arrivals dropped"}
			return r
		}, verdict: VerdictInconclusive, reason: "this run is invalid", figure: "p50(latency)", status: DiffSame},
		{name: "incomplete run", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result {
			r := sampledResult(t, slower, 0, 10)
			r.Incomplete = true
			return r
		}, verdict: VerdictInconclusive, reason: "this run is incomplete", figure: "p50(latency)", status: DiffWorse},
		{name: "different loads", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result { return sampledResult(t, same, 0, 5) },
			verdict: VerdictInconclusive, reason: "offered different loads (600.0/s, then 1200.0/s)", figure: "p50(latency)", status: DiffSame},
		{name: "within the tool's own delay", old: func() *Result { return sampledResult(t, base, 0, 10) }, new: func() *Result {
			r := sampledResult(t, slower, 0, 10)
			r.Generator.SendLagMS = Percentiles{Count: 6000, P50: 3, P90: 4, P95: 5, P99: 9, Mean: 3}
			return r
		}, verdict: VerdictInconclusive, reason: "within the tool's own delay", figure: "p50(latency)", status: DiffInconclusive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Compare(c.old(), c.new(), DefaultDiffOptions())
			if err != nil {
				t.Fatal(err)
			}
			if d.Verdict != c.verdict || !strings.Contains(d.Reason, c.reason) {
				t.Errorf("verdict %s (%s), want %s with %q", d.Verdict, d.Reason, c.verdict, c.reason)
			}
			if got := figureStatus(d, "run", c.figure); got != c.status {
				t.Errorf("run %s is %s, want %s", c.figure, got, c.status)
			}
		})
	}
}

func figureStatus(d *Diff, scope, figure string) string {
	for _, s := range d.Scopes {
		for _, f := range s.Figures {
			if s.Label() == scope && f.Figure == figure {
				return f.Status
			}
		}
	}
	return "absent"
}

func TestCompareMatchesScopesByName(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	old := sampledResult(t, lognormalMS(rng, 4000, 5), 0, 10)
	new := sampledResult(t, lognormalMS(rng, 4000, 5), 0, 10)
	new.Requests[1].Name = "POST /checkout"
	d, err := Compare(old, new, DefaultDiffOptions())
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, s := range d.Scopes {
		labels = append(labels, s.Label()+"|"+s.Note)
	}
	want := []string{"run|", `"GET /products" (browse)|`, `"POST /checkout" (browse)|only in this run`, `"POST /cart" (browse)|only in the baseline`}
	if strings.Join(labels, ";") != strings.Join(want, ";") {
		t.Errorf("scopes %q, want %q (the lone workload is the run itself)", labels, want)
	}
	if d.Tests != 14 {
		t.Errorf("%d tests, want 7 figures in each of the 2 scopes in both runs", d.Tests)
	}
	// One request name in both runs: its figures are the run's, compared once.
	old.Requests, new.Requests = old.Requests[:1], new.Requests[:1]
	if d, err = Compare(old, new, DefaultDiffOptions()); err != nil {
		t.Fatal(err)
	}
	if len(d.Scopes) != 1 || d.Tests != 7 {
		t.Errorf("%d scopes and %d tests, want the run alone", len(d.Scopes), d.Tests)
	}
}

func TestDiffOptionsValidate(t *testing.T) {
	for _, c := range []struct {
		opts DiffOptions
		ok   bool
	}{
		{DefaultDiffOptions(), true},
		{DiffOptions{Confidence: 0.4}, false},
		{DiffOptions{Confidence: 1}, false},
		{DiffOptions{Confidence: 0.99, ThroughputTolerance: 1}, false},
		{DiffOptions{Confidence: 0.99, LatencyTolerance: math.NaN()}, false},
	} {
		if err := c.opts.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v, want ok %v", c.opts, err, c.ok)
		}
	}
}

func TestWriteDiffGolden(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	old := sampledResult(t, lognormalMS(rng, 6000, 5), 0, 10)
	new := sampledResult(t, lognormalMS(rng, 5940, 6.5), 60, 10)
	old.Started = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	new.Started = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	d, err := Compare(old, new, DefaultDiffOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		golden string
		render DiffRenderer
		want   []string
	}{
		{"diff.golden", WriteDiffText, []string{"BASELINE: FAIL - worse than the baseline: run error_rate +1.0pp; run p50(latency) +", "and 14 more", "WORSE", `"POST /cart" (browse)`}},
		{"diff.golden.md", WriteDiffMarkdown, []string{"### ❌ Against the baseline", "| run | p50(latency) |", "❌ WORSE"}},
	} {
		var b bytes.Buffer
		if err := c.render(&b, d); err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s lacks %q:\n%s", c.golden, w, b.String())
			}
		}
		checkGolden(t, c.golden, b.Bytes())
	}
}

func TestRunWithDiffFailsAndShowsIt(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	old := sampledResult(t, lognormalMS(rng, 6000, 5), 0, 10)
	res := sampledResult(t, lognormalMS(rng, 6000, 6.5), 0, 10)
	if err := ApplyBaseline(res, old, DefaultDiffOptions()); err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictFail || !strings.Contains(res.VerdictReason, "baseline: worse than the baseline") {
		t.Errorf("verdict %s (%s), want a fail naming the baseline", res.Verdict, res.VerdictReason)
	}
	var text, md bytes.Buffer
	if err := WriteText(&text, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "(worse than the baseline)") || !strings.Contains(text.String(), "BASELINE: FAIL") {
		t.Errorf("the terminal report does not show the comparison:\n%s", text.String())
	}
	if !strings.Contains(md.String(), "Against the baseline") {
		t.Errorf("summary.md does not show the comparison:\n%s", md.String())
	}
	var junit bytes.Buffer
	if err := WriteJUnit(&junit, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(junit.String(), `<testcase name="against the baseline"`) || !strings.Contains(junit.String(), `type="WorseThanBaseline"`) {
		t.Errorf("junit.xml has no failed test case for the comparison:\n%s", junit.String())
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&js)
	if err != nil {
		t.Fatal(err)
	}
	if back.Diff == nil || back.Diff.Verdict != VerdictFail || len(back.Diff.Scopes) != len(res.Diff.Scopes) {
		t.Errorf("result.json does not keep the comparison: %+v", back.Diff)
	}
}

// TestCompareFromNothing compares a scope that had no traffic in the
// baseline: no relative change exists, and the JSON must still be written.
func TestCompareFromNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	old := sampledResult(t, lognormalMS(rng, 4000, 5), 0, 10)
	new := sampledResult(t, lognormalMS(rng, 4000, 5), 0, 10)
	old.Requests[1].Stats = Stats{}
	d, err := Compare(old, new, DefaultDiffOptions())
	if err != nil {
		t.Fatal(err)
	}
	var js, text bytes.Buffer
	if err := WriteDiffJSON(&js, d); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if err := WriteDiffText(&text, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "new") || figureStatus(d, `"POST /cart" (browse)`, "p99(latency)") != DiffUntested {
		t.Errorf("a scope new in this run:\n%s", text.String())
	}
}

// TestEveryFormatRendersADiff keeps diff --format in step with the run's
// formats, which its help and completion list.
func TestEveryFormatRendersADiff(t *testing.T) {
	for _, name := range Formats() {
		if _, err := DiffRendererFor(name); err != nil {
			t.Errorf("format %s: %v (add it to diffFormats)", name, err)
		}
	}
	if len(diffFormats) != len(formats) {
		t.Errorf("diffFormats has %d formats, formats %d", len(diffFormats), len(formats))
	}
}
