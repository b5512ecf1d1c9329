package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// CompareOptions choose the variants: one run per strategy, or one per
// proxy kind (builtin, nginx, haproxy), never both.
type CompareOptions struct {
	Strategies []string
	Proxies    []string
	// Repeat is how many times each variant runs, with the seeds seed,
	// seed+1, …, interleaved (every variant's first run, then every
	// variant's second, …) so that a noisy moment of the machine does not
	// favour one variant. Default 1.
	Repeat int
	// Simulate runs every variant with sim.Run on a virtual clock instead
	// of run.Execute.
	Simulate bool
	// Progress, when set, receives one line per run started and finished.
	Progress io.Writer
	// Cooldown is a pause between runs, so that one run's leftovers
	// (connections closing, timers) do not reach the next. Default 500ms;
	// none simulated.
	Cooldown time.Duration
	// Version is the tool's version each run reports (run.Options.Version).
	Version string
}

func (o *CompareOptions) defaults() {
	o.Repeat = max(o.Repeat, 1)
	switch {
	case o.Simulate:
		o.Cooldown = 0 // a simulated run leaves nothing behind
	case o.Cooldown == 0:
		o.Cooldown = 500 * time.Millisecond
	}
}

// Comparison is a comparison's outcome: one row per variant, and the ranking.
type Comparison struct {
	Scenario string `json:"scenario"`
	// Mode is "simulated" when every run was (CompareOptions.Simulate).
	Mode string `json:"mode,omitempty"`
	// Seed is the first run's; run k of each variant had Seed+k−1.
	Seed int64 `json:"seed"`
	// Repeat is the runs per variant when more than one (see Row.Repeated).
	Repeat int `json:"repeat,omitempty"`
	// By is "strategy" or "proxy".
	By   string `json:"by"`
	Rows []Row  `json:"rows"`
	// Ranking names the variants best first (see RankingRule).
	Ranking     []string `json:"ranking"`
	RankingRule string   `json:"ranking_rule"`
	// Indistinct are the pairs of variants next to each other in the
	// ranking that their repeated runs cannot tell apart (see
	// RepeatRankingRule).
	Indistinct [][2]string `json:"indistinct,omitempty"`
	// ToldApart are the pairs of neighbours of the same verdict that their
	// repeated runs do tell apart: the 95% intervals of the figure that
	// ordered them do not overlap, a significant difference. Neighbours of
	// different verdicts are in neither list: their verdicts ordered them.
	ToldApart [][2]string `json:"told_apart,omitempty"`
	// Results are the variants' full results, index-aligned with Rows:
	// each one's first run.
	Results []*report.Result `json:"-"`
	// Runs are every run's result, index-aligned with Rows, in seed order
	// (nil where a run could not be carried out).
	Runs [][]*report.Result `json:"-"`
}

// RankingRule is how variants are ranked.
const RankingRule = "variants meeting every requirement first, then inconclusive ones, then those that failed; within each, by p99 latency (lower is better); ties (within 1%) by throughput (higher is better); variants whose run failed last"

// RepeatRankingRule is how variants run several times are ranked.
const RepeatRankingRule = "variants whose every run met every requirement first, then inconclusive ones, then those with a failed run; within each, by median p99 latency (lower is better); ties (within 1%) by median throughput (higher is better); variants none of whose runs could be carried out last. Two neighbours whose 95% confidence intervals of the figure that ordered them overlap cannot be told apart (≈)"

// Row is one variant's headline figures.
type Row struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Strategy string `json:"strategy"`
	Rank     int    `json:"rank"`
	Verdict  string `json:"verdict"`
	// Error is why the run could not be carried out ("" when it was).
	Error         string  `json:"error,omitempty"`
	ThroughputRPS float64 `json:"throughput_rps"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	MaxMS         float64 `json:"max_ms"`
	Availability  float64 `json:"availability"`
	// RecoveryTimeS and DetectionTimeS are the longest over the faults
	// (−1: not within the run; absent without faults).
	RecoveryTimeS  *float64 `json:"recovery_time_s,omitempty"`
	DetectionTimeS *float64 `json:"detection_time_s,omitempty"`
	// DetectedBy says how detection was seen (the proxy's health event
	// reason, or "traffic").
	DetectedBy  string  `json:"detected_by,omitempty"`
	Fairness    float64 `json:"fairness"`
	SessionLoss int64   `json:"session_loss"`
	Saturated   bool    `json:"generator_saturated,omitempty"`
	// InflightBound: the saturation was the scenario's max_inflight holding
	// the load (report.Generator.InflightBound), not the generator.
	InflightBound bool             `json:"inflight_bound,omitempty"`
	Requirements  []report.Verdict `json:"requirements"`
	Errors        map[string]int64 `json:"errors,omitempty"`
	// Repeated summarises the variant's runs when it ran more than once;
	// each figure above is then the median of its runs, detection and
	// recovery the longest, errors the sum, requirements the first run's.
	Repeated *Repeated `json:"repeated,omitempty"`
}

// Compare runs sc once per variant with the same seed, workload and fault
// timeline, and ranks the variants; with Repeat N, N times each, with the
// seeds seed … seed+N−1, interleaved. A variant whose run cannot be
// carried out (a proxy binary missing, say) is a row with its error;
// Compare fails only when the options are invalid or no variant ran at
// all.
func Compare(ctx context.Context, sc *scenario.Scenario, opts CompareOptions) (*Comparison, error) {
	if err := oneSite(sc, "compare"); err != nil {
		return nil, err
	}
	if sc.SUT == nil {
		return nil, errors.New("compare needs a built-in sut: (strategies and proxies are the SUT's)")
	}
	opts.defaults()
	type variant struct{ name, kind, strategy string }
	var variants []variant
	ex := newExecutor(opts.Simulate, opts.Version)
	cmp := &Comparison{Scenario: sc.Name, Mode: ex.mode, Seed: sc.Seed, RankingRule: RankingRule}
	if opts.Repeat > 1 {
		cmp.Repeat, cmp.RankingRule = opts.Repeat, RepeatRankingRule
	}
	switch {
	case len(opts.Strategies) > 0 && len(opts.Proxies) > 0:
		return nil, errors.New("compare strategies or proxies, not both at once")
	case len(opts.Strategies) > 0:
		cmp.By = "strategy"
		for _, s := range opts.Strategies {
			variants = append(variants, variant{s, sc.SUT.Proxy.Kind, s})
		}
	case len(opts.Proxies) > 0:
		cmp.By = "proxy"
		for _, k := range opts.Proxies {
			variants = append(variants, variant{k, k, sc.SUT.Proxy.Strategy})
		}
	default:
		return nil, errors.New("name the variants: --strategies a,b,c or --proxies builtin,nginx,haproxy")
	}
	// Every variant is validated before any runs: a typo costs no run.
	var scenarios []*scenario.Scenario
	for _, v := range variants {
		c := clone(sc)
		c.SUT.Proxy.Kind, c.SUT.Proxy.Strategy = v.kind, v.strategy
		err := c.Validate()
		if err == nil {
			err = ex.unsupported(c)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		scenarios = append(scenarios, c)
	}
	runs := make([][]*report.Result, len(variants))
	errs := make([][]string, len(variants))
	ran := 0
	for k := range opts.Repeat {
		for i, v := range variants {
			if k > 0 || i > 0 {
				if err := sleep(ctx, opts.Cooldown); err != nil {
					return nil, err
				}
			}
			c := *scenarios[i]
			c.Seed += int64(k)
			label := v.name
			if opts.Repeat > 1 {
				label = fmt.Sprintf("%s, run %d/%d (seed %d)", v.name, k+1, opts.Repeat, c.Seed)
			}
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "compare: %s (%d/%d) ...\n", label, k*len(variants)+i+1, opts.Repeat*len(variants))
			}
			res, err := ex.execute(ctx, &c)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if res != nil {
				ran++
			}
			runs[i], errs[i] = append(runs[i], res), append(errs[i], msg)
			if opts.Progress != nil {
				row := Row{Verdict: "error"}
				if res != nil {
					row = rowOf(res)
				}
				fmt.Fprintf(opts.Progress, "compare: %s: %s, p99 %.1fms, %.0f/s%s\n", label, row.Verdict, row.P99MS, row.ThroughputRPS, errSuffix(msg))
			}
		}
	}
	for i, v := range variants {
		row := rowOfRuns(runs[i], errs[i], sc.Seed)
		row.Name, row.Kind, row.Strategy = v.name, v.kind, v.strategy
		cmp.Rows = append(cmp.Rows, row)
		cmp.Results = append(cmp.Results, runs[i][0])
		cmp.Runs = append(cmp.Runs, runs[i])
	}
	if ran == 0 {
		return cmp, fmt.Errorf("no variant could run: %s", cmp.Rows[0].Error)
	}
	cmp.rank()
	return cmp, nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + firstLine(e) + ")"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// rowOf reads a variant's headline figures from its result.
func rowOf(res *report.Result) Row {
	row := Row{
		Verdict:       res.Verdict,
		ThroughputRPS: res.ThroughputRPS,
		P50MS:         res.LatencyMS.P50,
		P99MS:         res.LatencyMS.P99,
		MaxMS:         res.LatencyMS.Max,
		Availability:  res.Availability.Requests,
		Fairness:      res.Fairness,
		SessionLoss:   res.Errors["session_lost"],
		Saturated:     res.Generator.Saturated,
		InflightBound: res.Generator.Saturated && res.Generator.InflightBound,
		Requirements:  res.Requirements,
		Errors:        res.Errors,
	}
	if res.Incomplete && row.Verdict == "pass" {
		row.Verdict = "incomplete"
	}
	var detected []string
	for _, f := range res.Faults {
		if f.Error != "" || f.IsTopologyEvent() {
			continue
		}
		row.RecoveryTimeS = worst(row.RecoveryTimeS, f.RecoveryTimeS)
		row.DetectionTimeS = worst(row.DetectionTimeS, f.DetectionTimeS)
		if f.DetectedBy != "" {
			detected = append(detected, f.DetectedBy)
		}
	}
	row.DetectedBy = strings.Join(detected, "; ")
	return row
}

// worst keeps the longest time, where −1 (never) is the longest of all.
func worst(cur *float64, v float64) *float64 {
	if cur == nil || *cur < 0 {
		if cur != nil && *cur < 0 {
			return cur
		}
		return &v
	}
	if v < 0 || v > *cur {
		return &v
	}
	return cur
}

// rank orders the rows by RankingRule and numbers them from 1.
func (c *Comparison) rank() {
	idx := make([]int, len(c.Rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ra, rb := c.Rows[idx[a]], c.Rows[idx[b]]
		if ca, cb := rankClass(ra), rankClass(rb); ca != cb {
			return ca < cb
		}
		if !tied(ra.P99MS, rb.P99MS) {
			return ra.P99MS < rb.P99MS
		}
		return ra.ThroughputRPS > rb.ThroughputRPS
	})
	c.Ranking, c.Indistinct, c.ToldApart = nil, nil, nil
	for pos, i := range idx {
		c.Rows[i].Rank = pos + 1
		c.Ranking = append(c.Ranking, c.Rows[i].Name)
		if pos == 0 {
			continue
		}
		prev, cur := c.Rows[idx[pos-1]], c.Rows[i]
		switch pair := [2]string{prev.Name, cur.Name}; {
		case rankClass(prev) != rankClass(cur):
		case !toldApart(prev, cur):
			c.Indistinct = append(c.Indistinct, pair)
		case prev.Repeated != nil && cur.Repeated != nil:
			c.ToldApart = append(c.ToldApart, pair)
		}
	}
}

// rankClass is a row's place by verdict: passing, inconclusive, failing,
// not run.
func rankClass(r Row) int {
	switch {
	case r.Error != "" && r.Verdict == "error":
		return 3
	case r.Verdict == report.VerdictPass:
		return 0
	case r.Verdict == report.VerdictInconclusive:
		return 1
	default:
		return 2
	}
}

// tied says whether two p99 latencies are within 1% of each other, too
// close for one to rank the variants.
func tied(a, b float64) bool { return math.Abs(a-b) <= 0.01*math.Max(a, b) }

// RankingLine is the ranking, best first, with ≈ between neighbours that
// cannot be told apart.
func (c *Comparison) RankingLine() string {
	var b strings.Builder
	for i, name := range c.Ranking {
		if i > 0 {
			sep := " > "
			if slices.Contains(c.Indistinct, [2]string{c.Ranking[i-1], name}) {
				sep = " ≈ "
			}
			b.WriteString(sep)
		}
		b.WriteString(name)
	}
	return b.String()
}

// Row returns the row called name, or nil.
func (c *Comparison) Row(name string) *Row {
	for i := range c.Rows {
		if c.Rows[i].Name == name {
			return &c.Rows[i]
		}
	}
	return nil
}

// WriteMarkdown writes the side-by-side table, the requirements per
// variant and the ranking as Markdown (also readable as plain text).
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Comparison by %s: %s (%s)%s\n\n", c.By, c.Scenario, c.seeds(), simulatedSuffix(c.Mode))
	b.WriteString("| rank | " + c.By + " | verdict | throughput | p50 | p99 | max | availability | detection | recovery | fairness | session loss |\n")
	b.WriteString("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, name := range c.Ranking {
		r := c.Row(name)
		if r.Verdict == "error" {
			fmt.Fprintf(&b, "| %d | %s | error: %s | | | | | | | | | |\n", r.Rank, r.Name, firstLine(r.Error))
			continue
		}
		verdict := r.Verdict
		if r.Saturated {
			_, caveat, _ := report.Generator{InflightBound: r.InflightBound}.SaturationTitle()
			verdict += " (" + caveat + ")"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %.1f/s | %.2fms | %.2fms | %.1fms | %.3f%% | %s | %s | %.3f | %d |\n",
			r.Rank, r.Name, verdict, r.ThroughputRPS, r.P50MS, r.P99MS, r.MaxMS, 100*r.Availability,
			seconds(r.DetectionTimeS), seconds(r.RecoveryTimeS), r.Fairness, r.SessionLoss)
	}
	c.writeRepeated(&b)
	if len(c.Rows) > 0 && len(c.Rows[0].Requirements) > 0 {
		b.WriteString("\n| requirement |")
		for _, name := range c.Ranking {
			b.WriteString(" " + name + " |")
		}
		b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(c.Ranking)) + "\n")
		for k, req := range c.Rows[0].Requirements {
			fmt.Fprintf(&b, "| `%s` |", req.Text)
			for _, name := range c.Ranking {
				r := c.Row(name)
				if k >= len(r.Requirements) {
					b.WriteString(" – |")
					continue
				}
				if rep := r.Repeated; rep != nil && k < len(rep.Requirements) {
					fmt.Fprintf(&b, " %d/%d pass (median %.4g) |", rep.Requirements[k].Passed, rep.Runs-rep.Errored, rep.Requirements[k].MedianObserved)
					continue
				}
				v := r.Requirements[k]
				mark := "fail"
				if v.Pass {
					mark = "pass"
				}
				fmt.Fprintf(&b, " %s (%.4g) |", mark, v.Observed)
			}
			b.WriteString("\n")
		}
	}
	var how []string
	for _, name := range c.Ranking {
		if r := c.Row(name); r.DetectedBy != "" {
			how = append(how, fmt.Sprintf("- %s: detection by %s", name, r.DetectedBy))
		}
	}
	if len(how) > 0 {
		b.WriteString("\n" + strings.Join(how, "\n") + "\n")
	}
	fmt.Fprintf(&b, "\nRanking: %s.\n", c.RankingLine())
	for _, note := range c.RankingNotes() {
		b.WriteString(note + "\n")
	}
	fmt.Fprintf(&b, "Rule: %s.\n", c.RankingRule)
	_, err := io.WriteString(w, b.String())
	return err
}

// seeds names the runs' seeds: "seed 7", or "seeds 7–9, 3 runs of each,
// interleaved".
func (c *Comparison) seeds() string {
	if c.Repeat <= 1 {
		return fmt.Sprintf("seed %d", c.Seed)
	}
	return fmt.Sprintf("seeds %d–%d, %d runs of each, interleaved", c.Seed, c.Seed+int64(c.Repeat)-1, c.Repeat)
}

// writeRepeated writes, for variants run several times, each one's passing
// runs and the median and 95% interval of the compared figures.
func (c *Comparison) writeRepeated(b *strings.Builder) {
	if c.Repeat <= 1 {
		return
	}
	fmt.Fprintf(b, "\nOver %d runs of each: median [95%% confidence interval of the mean, Student's t]; the figures above are the medians.\n\n", c.Repeat)
	b.WriteString("| " + c.By + " | passed | p99 | throughput | error rate |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, name := range c.Ranking {
		r := c.Row(name)
		rep := r.Repeated
		if rep == nil || rep.Errored == rep.Runs {
			fmt.Fprintf(b, "| %s | 0/%d | | | |\n", name, c.Repeat)
			continue
		}
		fmt.Fprintf(b, "| %s | %d/%d | %.2fms [%.2f, %.2f] | %.1f/s [%.1f, %.1f] | %.3f%% [%.3f, %.3f] |\n", name, rep.Passed, rep.Runs,
			rep.P99MS.Median, rep.P99MS.Low, rep.P99MS.High, rep.ThroughputRPS.Median, rep.ThroughputRPS.Low, rep.ThroughputRPS.High,
			100*rep.ErrorRate.Median, 100*rep.ErrorRate.Low, 100*rep.ErrorRate.High)
	}
}

func seconds(v *float64) string {
	switch {
	case v == nil:
		return "–"
	case *v < 0:
		return "never"
	default:
		return fmt.Sprintf("%.3fs", *v)
	}
}

// runsOf is variant i's results: every run's, or its one.
func (c *Comparison) runsOf(i int) []*report.Result {
	if i < len(c.Runs) {
		return c.Runs[i]
	}
	return c.Results[i : i+1]
}

// Charts are the comparison's plots: p99 and throughput per variant, and
// the variants' latency spectra overlaid.
func (c *Comparison) Charts() ([]*report.Chart, error) {
	var p99, tput []report.Bar
	var spectra []report.Spectrum
	for i, r := range c.Rows {
		if c.Results[i] == nil {
			continue
		}
		p99 = append(p99, report.Bar{Label: r.Name, Value: r.P99MS})
		tput = append(tput, report.Bar{Label: r.Name, Value: r.ThroughputRPS})
		spectra = append(spectra, report.Spectrum{Name: r.Name, Histogram: c.Results[i].Histograms.Latency})
	}
	var out []*report.Chart
	var errs []error
	for _, build := range []func() (*report.Chart, error){
		func() (*report.Chart, error) {
			return report.BarChart("compare-p99.png", "p99 latency per "+c.By, "p99 (ms)", p99)
		},
		func() (*report.Chart, error) {
			return report.BarChart("compare-throughput.png", "Throughput per "+c.By, "successes per second", tput)
		},
		func() (*report.Chart, error) {
			return report.SpectrumChart("compare-spectrum.png", "Latency spectrum per "+c.By, spectra)
		},
	} {
		ch, err := build()
		if err != nil {
			errs = append(errs, err)
		} else if ch != nil {
			out = append(out, ch)
		}
	}
	return out, errors.Join(errs...)
}

// WriteFiles writes into dir: compare.json (every row and the ranking),
// compare.md, compare.html (the table and charts on one page), the
// comparison's PNG charts, and each variant's own outputs
// (result.json, report.html, ...) in a subdirectory named after it, or
// with several runs one per run in it, named after its seed (seed-7/).
func (c *Comparison) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, r := range c.Rows {
		for k, res := range c.runsOf(i) {
			if res == nil {
				continue
			}
			sub := filepath.Join(dir, r.Name)
			if c.Repeat > 1 {
				sub = filepath.Join(sub, fmt.Sprintf("seed-%d", c.Seed+int64(k)))
			}
			if _, err := report.WriteFiles(sub, res); err != nil {
				return fmt.Errorf("%s: %w", r.Name, err)
			}
		}
	}
	if err := writeJSON(filepath.Join(dir, "compare.json"), c); err != nil {
		return err
	}
	if err := report.WriteAtomic(filepath.Join(dir, "compare.md"), c.WriteMarkdown); err != nil {
		return err
	}
	charts, chartErr := c.Charts()
	figs, err := renderCharts(dir, charts)
	if err != nil {
		return err
	}
	if err := report.WriteAtomic(filepath.Join(dir, "compare.html"), func(w io.Writer) error { return c.WriteHTML(w, figs) }); err != nil {
		return err
	}
	return chartErr
}

// oneSite refuses, at its place, a scenario of several sites for a
// workflow that varies one built-in SUT (its strategy, proxy, rate or
// backend count): what it would vary is each site's, and the DNS between
// them is no part of it.
func oneSite(sc *scenario.Scenario, workflow string) error {
	if !sc.HasSites() {
		return nil
	}
	return scenario.Errors{sc.ErrorAt("sites", workflow+" varies one built-in sut:, and this scenario has several sites behind DNS; ilities run and ilities simulate run them")}
}
