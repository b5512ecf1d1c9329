package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// DiffRenderer writes a diff in one format.
type DiffRenderer func(w io.Writer, d *Diff) error

// diffFormats are the formats of ilities diff --format, named as the run's.
var diffFormats = map[string]DiffRenderer{
	"text":     WriteDiffText,
	"json":     WriteDiffJSON,
	"markdown": WriteDiffMarkdown,
}

// DiffRendererFor returns the diff renderer of a format name (those of
// Formats, md included).
func DiffRendererFor(format string) (DiffRenderer, error) {
	return byFormat(diffFormats, format)
}

// WriteDiffJSON writes the diff as indented JSON.
func WriteDiffJSON(w io.Writer, d *Diff) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// WriteDiffText writes the comparison for a terminal: the verdict and the
// figures that decided it, both runs, the settings, one table row per
// figure of each scope, and why each worse or inconclusive figure is so.
func WriteDiffText(w io.Writer, d *Diff) error {
	t := &textWriter{}
	t.diff(d)
	if t.err != nil {
		return t.err
	}
	_, err := w.Write(t.buf.Bytes())
	return err
}

func (t *textWriter) diff(d *Diff) {
	t.linef("BASELINE: %s - %s", strings.ToUpper(d.Verdict), d.Reason)
	t.linef("baseline  %s", diffRunText(d.Baseline))
	t.linef("this run  %s", diffRunText(d.Run))
	t.linef("%s", diffSettingsText(d))
	for _, n := range d.Notes {
		t.linef("note: %s", n)
	}
	var rows [][]string
	for _, s := range d.Scopes {
		if s.Note != "" {
			rows = append(rows, []string{s.Label(), "-", "", "", "", "", s.Note})
		}
		for _, f := range s.Figures {
			rows = append(rows, append([]string{s.Label()}, diffCells(f)...))
		}
	}
	t.blank()
	t.table([]string{"scope", "figure", "baseline", "this run", "change", "interval", ""}, "llrrrrl", rows)
	for _, line := range diffWhys(d) {
		t.wrapped("  "+line, "    ")
	}
}

// WriteDiffMarkdown writes the comparison for a CI page: the verdict, both
// runs and a table of every figure, as GitHub-flavoured Markdown.
func WriteDiffMarkdown(w io.Writer, d *Diff) error {
	var b bytes.Buffer
	writeDiffMarkdown(&b, d)
	_, err := w.Write(b.Bytes())
	return err
}

func writeDiffMarkdown(b *bytes.Buffer, d *Diff) {
	md := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	md("### %s Against the baseline", markdownVerdictMark(d.Verdict))
	md("")
	md("**BASELINE: %s** - %s", strings.ToUpper(d.Verdict), markdownEscape(d.Reason))
	md("")
	md("baseline: %s · this run: %s", markdownEscape(diffRunText(d.Baseline)), markdownEscape(diffRunText(d.Run)))
	md("")
	md("%s", markdownEscape(diffSettingsText(d)))
	md("")
	for _, n := range d.Notes {
		md("> [!NOTE]")
		md("> %s", markdownEscape(n))
		md("")
	}
	md("| scope | figure | baseline | this run | change | interval | |")
	md("| --- | --- | ---: | ---: | ---: | ---: | --- |")
	for _, s := range d.Scopes {
		label := markdownCell(markdownEscape(s.Label()))
		if s.Note != "" {
			md("| %s | - | | | | | %s |", label, markdownEscape(s.Note))
		}
		for _, f := range s.Figures {
			cells := diffCells(f)
			if mark := diffMark(f.Status); mark != "" {
				cells[5] = mark + " " + cells[5]
			}
			md("| %s | %s |", label, strings.Join(cells, " | "))
		}
	}
	md("")
	for _, line := range diffWhys(d) {
		md("- %s", markdownEscape(line))
	}
}

// diffCells are a figure's cells after its scope: figure, baseline, this
// run, change, interval, status.
func diffCells(f FigureDiff) []string {
	unit := scenario.Unit(f.Unit)
	interval := "-"
	if f.Status != DiffUntested {
		change := f
		change.Change = f.Low
		low := formatChange(change)
		change.Change = f.High
		interval = "[" + low + ", " + formatChange(change) + "]"
	}
	return []string{f.Figure, FormatValue(f.Old, unit), FormatValue(f.New, unit), formatChange(f), interval, diffWord(f.Status)}
}

// diffWord is a figure's status as the tables print it: loud when it fails
// the gate.
func diffWord(status string) string {
	switch status {
	case DiffWorse:
		return "WORSE"
	case DiffInconclusive:
		return "INCONCLUSIVE"
	case DiffUntested:
		return "-"
	}
	return status
}

func diffMark(status string) string {
	switch status {
	case DiffWorse:
		return "❌"
	case DiffInconclusive:
		return "❔"
	case DiffBetter:
		return "🟢"
	}
	return ""
}

// diffWhys explain each worse or inconclusive figure.
func diffWhys(d *Diff) []string {
	var out []string
	for _, s := range d.Scopes {
		for _, f := range s.Figures {
			if f.Why != "" && (f.Status == DiffWorse || f.Status == DiffInconclusive) {
				out = append(out, fmt.Sprintf("%s %s: %s", s.Label(), f.Figure, f.Why))
			}
		}
	}
	return out
}

func diffRunText(r DiffRun) string {
	name := r.Scenario
	if name == "" {
		name = "(unnamed scenario)"
	}
	s := fmt.Sprintf("%s, seed %d", name, r.Seed)
	if !r.Started.IsZero() {
		s += ", started " + r.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if r.Verdict != "" {
		s += ", verdict " + r.Verdict
	}
	return s
}

func diffSettingsText(d *Diff) string {
	o := d.Options
	return fmt.Sprintf("worse when significant at %s confidence (%d tests together) and beyond the tolerance: latency %s and %s, throughput %s, error rate %s",
		formatShare(o.Confidence), d.Tests, signed(100*o.LatencyTolerance, "%"), signed(o.LatencyFloorMS, "ms"), signed(-100*o.ThroughputTolerance, "%"), signed(100*o.ErrorRateTolerance, "pp"))
}

// addDiff adds the comparison with the baseline as one test case: failed
// when a figure is worse, skipped when the comparison is inconclusive, with
// the table as its text.
func (s *junitSuite) addDiff(d *Diff, classname string) {
	var table bytes.Buffer
	if err := WriteDiffText(&table, d); err != nil {
		table.WriteString(err.Error())
	}
	tc := junitCase{Name: "against the baseline", Classname: classname, Time: "0", SystemOut: &junitText{table.String()}}
	switch d.Verdict {
	case VerdictFail:
		tc.Failure = &junitFailure{Type: "WorseThanBaseline", Message: d.Reason, Text: table.String()}
		s.Failures++
	case VerdictInconclusive:
		tc.Skipped = &junitSkipped{Message: "inconclusive: " + d.Reason}
		s.Skipped++
	}
	s.Cases = append(s.Cases, tc)
}
