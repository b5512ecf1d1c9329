package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// CompareOptions choose the variants: one run per strategy, or one per
// proxy kind (builtin, nginx, haproxy), never both.
type CompareOptions struct {
	Strategies []string
	Proxies    []string
	// Progress, when set, receives one line per run started and finished.
	Progress io.Writer
	// Cooldown is a pause between runs, so that one run's leftovers
	// (connections closing, timers) do not reach the next. Default 500ms.
	Cooldown time.Duration
	// Version is the tool's version each run reports (run.Options.Version).
	Version string
}

// Comparison is a comparison's outcome: one row per variant, and the ranking.
type Comparison struct {
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	// By is "strategy" or "proxy".
	By   string `json:"by"`
	Rows []Row  `json:"rows"`
	// Ranking names the variants best first (see RankingRule).
	Ranking     []string `json:"ranking"`
	RankingRule string   `json:"ranking_rule"`
	// Results are the variants' full results, index-aligned with Rows.
	Results []*report.Result `json:"-"`
}

// RankingRule is how variants are ranked.
const RankingRule = "variants meeting every requirement first, then inconclusive ones, then those that failed; within each, by p99 latency (lower is better); ties (within 1%) by throughput (higher is better); variants whose run failed last"

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
	DetectedBy   string           `json:"detected_by,omitempty"`
	Fairness     float64          `json:"fairness"`
	SessionLoss  int64            `json:"session_loss"`
	Saturated    bool             `json:"generator_saturated,omitempty"`
	Requirements []report.Verdict `json:"requirements"`
	Errors       map[string]int64 `json:"errors,omitempty"`
}

// Compare runs sc once per variant with the same seed, workload and fault
// timeline, and ranks the variants. A variant whose run cannot be carried
// out (a proxy binary missing, say) is a row with its error; Compare fails
// only when the options are invalid or no variant ran at all.
func Compare(ctx context.Context, sc *scenario.Scenario, opts CompareOptions) (*Comparison, error) {
	if sc.SUT == nil {
		return nil, errors.New("compare needs a built-in sut: (strategies and proxies are the SUT's)")
	}
	type variant struct{ name, kind, strategy string }
	var variants []variant
	cmp := &Comparison{Scenario: sc.Name, Seed: sc.Seed, RankingRule: RankingRule}
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
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		scenarios = append(scenarios, c)
	}
	cooldown := opts.Cooldown
	if cooldown == 0 {
		cooldown = 500 * time.Millisecond
	}
	ran := 0
	for i, v := range variants {
		if i > 0 {
			if err := sleep(ctx, cooldown); err != nil {
				return nil, err
			}
		}
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "compare: %s (%d/%d) ...\n", v.name, i+1, len(variants))
		}
		res, err := run.Execute(ctx, scenarios[i], run.Options{Options: runner.Options{Version: opts.Version}})
		row := Row{Name: v.name, Kind: v.kind, Strategy: v.strategy, Verdict: "error"}
		if res != nil {
			row = rowOf(res)
			row.Name, row.Kind, row.Strategy = v.name, v.kind, v.strategy
			ran++
		}
		if err != nil {
			row.Error = err.Error()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "compare: %s: %s, p99 %.1fms, %.0f/s%s\n", v.name, row.Verdict, row.P99MS, row.ThroughputRPS, errSuffix(row.Error))
		}
		cmp.Rows = append(cmp.Rows, row)
		cmp.Results = append(cmp.Results, res)
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
	class := func(r Row) int {
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
	sort.SliceStable(idx, func(a, b int) bool {
		ra, rb := c.Rows[idx[a]], c.Rows[idx[b]]
		if ca, cb := class(ra), class(rb); ca != cb {
			return ca < cb
		}
		if d := ra.P99MS - rb.P99MS; math.Abs(d) > 0.01*math.Max(ra.P99MS, rb.P99MS) {
			return d < 0
		}
		return ra.ThroughputRPS > rb.ThroughputRPS
	})
	c.Ranking = nil
	for pos, i := range idx {
		c.Rows[i].Rank = pos + 1
		c.Ranking = append(c.Ranking, c.Rows[i].Name)
	}
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
	fmt.Fprintf(&b, "## Comparison by %s: %s (seed %d)\n\n", c.By, c.Scenario, c.Seed)
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
			verdict += " (generator saturated)"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %.1f/s | %.2fms | %.2fms | %.1fms | %.3f%% | %s | %s | %.3f | %d |\n",
			r.Rank, r.Name, verdict, r.ThroughputRPS, r.P50MS, r.P99MS, r.MaxMS, 100*r.Availability,
			seconds(r.DetectionTimeS), seconds(r.RecoveryTimeS), r.Fairness, r.SessionLoss)
	}
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
	fmt.Fprintf(&b, "\nRanking: %s.\nRule: %s.\n", strings.Join(c.Ranking, " > "), c.RankingRule)
	_, err := io.WriteString(w, b.String())
	return err
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
// (result.json, report.html, ...) in a subdirectory named after it.
func (c *Comparison) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, r := range c.Rows {
		if c.Results[i] == nil {
			continue
		}
		if err := report.WriteFiles(filepath.Join(dir, r.Name), c.Results[i]); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
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
