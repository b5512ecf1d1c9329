package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// figure is how one row reads its number from a run.
type figure struct {
	name   string // the row's first column
	value  func(sample) float64
	format format
	higher bool // a higher value is better
}

// cell is one tool's figure over the rounds.
type cell struct {
	tool    string
	missing string // why the tool did not run
	s       spread
	format  format
}

func (c cell) has() bool { return c.missing == "" && c.s.n > 0 }

// text is the figure as the table shows it: the median, the range over
// the rounds and how many stayed noisy.
func (c cell) text() string {
	if c.missing != "" {
		return c.missing
	}
	if c.s.n == 0 {
		return "—"
	}
	t := c.format.one(c.s.med)
	if c.s.n > 1 {
		t += fmt.Sprintf(" (%s–%s)", c.format.num(c.s.lo), c.format.num(c.s.hi))
	}
	if c.s.noisy > 0 {
		t += fmt.Sprintf(", %d of %d rounds noisy", c.s.noisy, c.s.n)
	}
	return t
}

// row is one line of the table.
type row struct {
	figure string
	higher bool
	own    cell
	peers  []cell
	refs   []cell // references, noted and not compared (contender.ref)
	notes  []string
}

// rowOf reads fig from every contender's samples.
func rowOf(fig figure, c comparison, got map[string][]sample) row {
	r := row{figure: fig.name, higher: fig.higher}
	for _, ct := range c.contenders {
		cl := cell{tool: ct.name, missing: ct.missing, format: fig.format}
		if ct.missing == "" {
			cl.s = summarize(got[ct.name], fig.value)
		}
		switch {
		case ct.ref:
			r.refs = append(r.refs, cl)
		case ct.peer:
			r.peers = append(r.peers, cl)
		default:
			r.own = cl
		}
	}
	return r
}

// best is the peer with the best median, or -1.
func (r row) best() int {
	b := -1
	for i, p := range r.peers {
		if !p.has() {
			continue
		}
		if b < 0 || (r.higher && p.s.med > r.peers[b].s.med) || (!r.higher && p.s.med < r.peers[b].s.med) {
			b = i
		}
	}
	return b
}

// peerText is the best peer's cell, or why there is none.
func (r row) peerText() string {
	if b := r.best(); b >= 0 {
		return r.peers[b].tool + " " + r.peers[b].text()
	}
	var why []string
	for _, p := range r.peers {
		if p.missing != "" {
			why = append(why, p.tool+": "+p.missing)
		}
	}
	if len(why) == 0 {
		return "—"
	}
	return strings.Join(why, "; ")
}

// ratio is ilities' median over the best peer's, refused when a round of
// either stayed noisy.
func (r row) ratio() string {
	b := r.best()
	if b < 0 || !r.own.has() {
		return "—"
	}
	p := r.peers[b]
	if r.own.s.noisy > 0 || p.s.noisy > 0 {
		return fmt.Sprintf("refused: noisy rounds (ilities %d of %d, %s %d of %d)", r.own.s.noisy, r.own.s.n, p.tool, p.s.noisy, p.s.n)
	}
	if p.s.med == 0 || math.IsNaN(p.s.med) || math.IsNaN(r.own.s.med) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r.own.s.med/p.s.med)
}

// table is the whole output: the figures, then what they rest on.
type table struct {
	title   string
	rows    []row
	method  string
	setup   []string // the machine, the peers and their settings
	details []string // every tool's figures, one line each
}

// markdown writes t as Markdown.
func (t table) markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", t.title)
	b.WriteString("| figure | ilities | best peer | ratio |\n| --- | --- | --- | --- |\n")
	for _, r := range t.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", esc(r.figure), esc(r.own.text()), esc(r.peerText()), esc(r.ratio()))
	}
	var notes []string
	for _, r := range t.rows {
		for _, ref := range r.refs {
			notes = append(notes, r.figure+": for reference, not a peer: "+ref.tool+" "+ref.text())
		}
		for _, n := range r.notes {
			notes = append(notes, r.figure+": "+n)
		}
	}
	section(&b, "Notes", notes)
	if t.method != "" {
		fmt.Fprintf(&b, "\n## Method\n\n%s\n", t.method)
	}
	section(&b, "Setup", t.setup)
	section(&b, "Every tool, every figure", t.details)
	_, err := io.WriteString(w, b.String())
	return err
}

func section(b *strings.Builder, title string, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## %s\n\n", title)
	for _, l := range lines {
		fmt.Fprintf(b, "- %s\n", l)
	}
}

// esc keeps a cell inside its column.
func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// format writes a figure: its number, then its unit, which a range gives
// once.
type format struct {
	num  func(float64) string
	unit string
}

func (f format) one(v float64) string { return f.num(v) + f.unit }

var (
	fmtMicros    = format{func(v float64) string { return fmt.Sprintf("%.1f", v) }, " µs"}
	fmtMillis    = format{func(v float64) string { return fmt.Sprintf("%.3f", v) }, " ms"}
	fmtKiB       = format{func(v float64) string { return fmt.Sprintf("%.1f", v) }, " KiB"}
	fmtReqPerSec = format{thousands, " req/s"}
	fmtRate      = format{shortRate, "/s"}
)

// shortRate is a rate in thousands from 10,000 up: 150k, 9,000.
func shortRate(v float64) string {
	if v >= 10000 {
		return fmt.Sprintf("%.0fk", v/1000)
	}
	return thousands(v)
}

// thousands writes v rounded, with commas between thousands.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if v < 0 {
		return "-" + string(out)
	}
	return string(out)
}
