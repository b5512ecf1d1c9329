package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgimg"
)

// TopologyFile is the drawing of the infrastructure in an output directory.
const TopologyFile = "topology.png"

// topologyTitle says what the drawing shows: the caption of its figure.
const topologyTitle = "The infrastructure at the end of the run"

// sketch is what paintTopology draws on: report.html's SVG or
// topology.png's canvas. Positions are in points from the top left.
type sketch interface {
	// begin opens a group of shapes that is one part of the drawing
	// (class: topology-node, topology-pool, …) with what a reader hovering
	// over it is told; data are attribute pairs naming it.
	begin(class, title string, data ...string)
	end()
	rect(b box, radius float64, fill, stroke color.Color, width float64, dashed bool)
	polygon(pts []point, fill color.Color)
	line(from, to point, stroke color.Color, width float64)
	// text writes s with its baseline at at, anchored at its start, middle
	// or end.
	text(at point, s string, size float64, bold bool, anchor textAnchor, ink color.Color)
}

type textAnchor int

const (
	anchorStart textAnchor = iota
	anchorMiddle
	anchorEnd
)

// The drawing's colours, beside the charts' palette.
var (
	topoInk       = color.NRGBA{0x1f, 0x23, 0x28, 0xff}
	topoMuted     = color.NRGBA{0x59, 0x63, 0x6e, 0xff}
	topoLine      = color.NRGBA{0xb6, 0xbf, 0xc8, 0xff}
	topoPoolFill  = color.NRGBA{0xf6, 0xf8, 0xfa, 0xff}
	topoProxyFill = color.NRGBA{0xef, 0xeb, 0xf8, 0xff}
	topoChipFill  = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	topoDownFill  = color.NRGBA{0xfe, 0xe4, 0xe2, 0xff}
	topoDownInk   = color.NRGBA{0xb4, 0x23, 0x18, 0xff}
	topoGoneFill  = color.NRGBA{0xee, 0xee, 0xee, 0xff}
	topoTrack     = color.NRGBA{0xe4, 0xe8, 0xec, 0xff}
	topoSPOF      = colourRed
	topoLabelFill = color.NRGBA{0xff, 0xff, 0xff, 0xe6}
)

// busyColour is a utilisation bar's: blue, orange from 70%, red from 90%.
func busyColour(u float64) color.Color {
	switch {
	case u >= 0.9:
		return colourRed
	case u >= 0.7:
		return colourOrange
	}
	return colourBlue
}

// paintTopology draws layout l: the calls first, under the boxes, then the
// proxy, each pool with its nodes, the calls' labels over everything, and
// the legend.
func paintTopology(l *topologyLayout, s sketch) {
	for _, e := range l.Edges {
		paintEdge(e, s)
	}
	p := l.Proxy
	s.begin("topology-proxy", proxyTitle(p), "name", ProxyPool)
	paintPoolBox(s, p.box, topoProxyFill, p.SPOF != "")
	s.text(point{p.X + topoPad, p.Y + 13}, p.Title, titleSize, true, anchorStart, topoInk)
	paintMembers(s, p.Replicas, p.Summary)
	s.end()
	for _, pool := range l.Pools {
		s.begin("topology-pool", pool.Title+"\n"+pool.Detail, "name", pool.Name, "kind", pool.Kind)
		paintPoolBox(s, pool.box, topoPoolFill, false)
		s.text(point{pool.X + topoPad, pool.Y + 13}, pool.Title, titleSize, true, anchorStart, topoInk)
		s.text(point{pool.X + topoPad, pool.Y + 24}, pool.Detail, detailSize, false, anchorStart, topoMuted)
		if len(pool.Nodes) == 0 && pool.Summary == nil {
			s.text(point{pool.X + topoPad, pool.Y + topoHeader + 8}, "no nodes", detailSize, false, anchorStart, topoMuted)
		}
		paintMembers(s, pool.Nodes, pool.Summary)
		s.end()
	}
	for _, e := range l.Edges {
		paintEdgeLabels(e, s)
	}
	for _, g := range l.Legend {
		paintLegend(g, s)
	}
}

func proxyTitle(p proxyPart) string {
	if p.SPOF != "" {
		return p.Title + "\nsingle point of failure: " + p.SPOF
	}
	return p.Title
}

// paintPoolBox draws a pool's or the proxy's frame; a single point of
// failure's is red with a corner cut.
func paintPoolBox(s sketch, b box, fill color.Color, spof bool) {
	if spof {
		s.rect(b, 6, fill, topoSPOF, 2, false)
		paintDogEar(s, b, 10)
		return
	}
	s.rect(b, 6, fill, topoLine, 1, false)
}

// paintDogEar marks a single point of failure: a red corner at the top right.
func paintDogEar(s sketch, b box, size float64) {
	s.polygon([]point{{b.X + b.W - size, b.Y}, {b.X + b.W, b.Y}, {b.X + b.W, b.Y + size}}, topoSPOF)
}

func paintMembers(s sketch, chips []nodePart, sum *summaryPart) {
	for _, c := range chips {
		paintNode(c, s)
	}
	if sum != nil {
		paintSummary(*sum, s)
	}
}

// paintNode draws one node: its name, its second line, its utilisation bar.
func paintNode(c nodePart, s sketch) {
	title := c.Name + ": " + c.Label
	if c.SPOF != "" {
		title += "\nsingle point of failure: " + c.SPOF
	}
	data := []string{"name", c.Name, "pool", c.Pool, "state", cmp.Or(c.State, NodeUp)}
	if c.Role != "" {
		data = append(data, "role", c.Role)
	}
	if c.SPOF != "" {
		data = append(data, "spof", "true")
	}
	s.begin("topology-node", title, data...)
	fill, stroke, ink, width, dashed := topoChipFill, topoLine, topoInk, 1.0, false
	switch c.State {
	case NodeDown:
		fill, stroke, ink = topoDownFill, topoDownInk, topoDownInk
	case NodeRemoved:
		fill, ink, dashed = topoGoneFill, topoMuted, true
	}
	if c.SPOF != "" {
		stroke, width = topoSPOF, 2
	}
	s.rect(c.box, 3, fill, stroke, width, dashed)
	if c.SPOF != "" {
		paintDogEar(s, c.box, 8)
	}
	s.text(point{c.X + 4, c.Y + 11}, c.Name, chipSize, true, anchorStart, ink)
	s.text(point{c.X + 4, c.Y + 21}, c.Label, chipSize-0.5, false, anchorStart, ink)
	if c.Busy && c.State != NodeRemoved {
		track := box{c.X + 4, c.Y + c.H - 6, c.W - 8, 3}
		s.rect(track, 0, topoTrack, nil, 0, false)
		if u := math.Min(math.Max(c.Utilisation, 0), 1); u > 0 {
			s.rect(box{track.X, track.Y, track.W * u, track.H}, 0, busyColour(u), nil, 0, false)
		}
	}
	s.end()
}

// paintSummary draws a pool's nodes past maxDrawnNodes: its lines and the
// range of their utilisation on a 0–100% track, its mean a tick.
func paintSummary(sum summaryPart, s sketch) {
	s.begin("topology-summary", strings.Join(sum.Lines, "\n"))
	for i, line := range sum.Lines {
		s.text(point{sum.X, sum.Y + 10 + summaryLineH*float64(i)}, line, detailSize, i < sum.BoldLines, anchorStart, topoInk)
	}
	bar := sum.Bar
	if bar.W == 0 { // the proxy's replicas: no utilisation measured
		s.end()
		return
	}
	s.rect(bar, 0, topoTrack, nil, 0, false)
	lo, hi := math.Max(sum.Min, 0), math.Min(sum.Max, 1)
	s.rect(box{bar.X + bar.W*lo, bar.Y, math.Max(bar.W*(hi-lo), 1), bar.H}, 0, busyColour(sum.Mean), nil, 0, false)
	mean := bar.X + bar.W*math.Min(math.Max(sum.Mean, 0), 1)
	s.line(point{mean, bar.Y - 2}, point{mean, bar.bottom() + 2}, topoInk, 1.5)
	s.end()
}

// paintEdge draws a call as a line with an arrowhead at the pool called.
func paintEdge(e edgePart, s sketch) {
	s.begin("topology-call", e.From+" → "+e.To+"\n"+strings.Join(e.Labels, "\n"), "from", e.From, "to", e.To)
	dx, dy := e.End.X-e.Start.X, e.End.Y-e.Start.Y
	length := math.Hypot(dx, dy)
	if length == 0 {
		s.end()
		return
	}
	ux, uy := dx/length, dy/length
	const head, half = 7.0, 3.5
	base := point{e.End.X - ux*head, e.End.Y - uy*head}
	s.line(e.Start, base, topoMuted, 1)
	s.polygon([]point{e.End, {base.X - uy*half, base.Y + ux*half}, {base.X + uy*half, base.Y - ux*half}}, topoMuted)
	s.end()
}

// paintEdgeLabels writes an edge's labels, one line per call, on a pale
// ground that keeps them readable over the lines they cross.
func paintEdgeLabels(e edgePart, s sketch) {
	if len(e.Labels) == 0 {
		return
	}
	const lineH = 9.0
	var w float64
	for _, l := range e.Labels {
		w = math.Max(w, drawnWidth(l, labelSize, false))
	}
	h := lineH * float64(len(e.Labels))
	top := e.LabelAt.Y - h/2
	s.rect(box{e.LabelAt.X - w/2 - 2, top - 1, w + 4, h + 2}, 2, topoLabelFill, nil, 0, false)
	for i, l := range e.Labels {
		s.text(point{e.LabelAt.X, top + lineH*float64(i) + 7}, l, labelSize, false, anchorMiddle, topoInk)
	}
}

func paintLegend(g legendPart, s sketch) {
	b := g.Swatch
	switch g.Kind {
	case legendUp:
		s.rect(b, 2, topoChipFill, topoLine, 1, false)
	case legendDown:
		s.rect(b, 2, topoDownFill, topoDownInk, 1, false)
	case legendRemoved:
		s.rect(b, 2, topoGoneFill, topoLine, 1, true)
	case legendSPOF:
		s.rect(b, 2, topoChipFill, topoSPOF, 2, false)
		paintDogEar(s, b, 6)
	case legendBusy:
		s.rect(box{b.X, b.Y + 4, b.W, 3}, 0, topoTrack, nil, 0, false)
		s.rect(box{b.X, b.Y + 4, b.W * 0.6, 3}, 0, colourBlue, nil, 0, false)
	}
	s.text(point{b.X + b.W + 4, b.Y + 9}, g.Label, labelSize, false, anchorStart, topoMuted)
}

// svgSketch writes the drawing as SVG elements with presentation
// attributes only: report.html's Content Security Policy allows no style
// attribute.
type svgSketch struct {
	b bytes.Buffer
}

func (s *svgSketch) begin(class, title string, data ...string) {
	fmt.Fprintf(&s.b, `<g class="%s"`, class)
	for i := 0; i+1 < len(data); i += 2 {
		fmt.Fprintf(&s.b, ` data-%s="%s"`, data[i], xmlEscape(data[i+1]))
	}
	s.b.WriteString(">")
	if title != "" {
		fmt.Fprintf(&s.b, "<title>%s</title>", xmlEscape(title))
	}
}

func (s *svgSketch) end() { s.b.WriteString("</g>\n") }

func (s *svgSketch) rect(b box, radius float64, fill, stroke color.Color, width float64, dashed bool) {
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s"`, num(b.X), num(b.Y), num(b.W), num(b.H))
	if radius > 0 {
		fmt.Fprintf(&s.b, ` rx="%s"`, num(radius))
	}
	s.paint(fill, stroke, width, dashed)
	s.b.WriteString("/>")
}

func (s *svgSketch) polygon(pts []point, fill color.Color) {
	s.b.WriteString(`<polygon points="`)
	for i, p := range pts {
		if i > 0 {
			s.b.WriteByte(' ')
		}
		s.b.WriteString(num(p.X) + "," + num(p.Y))
	}
	s.b.WriteString(`"`)
	s.paint(fill, nil, 0, false)
	s.b.WriteString("/>")
}

func (s *svgSketch) line(from, to point, stroke color.Color, width float64) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s"`, num(from.X), num(from.Y), num(to.X), num(to.Y))
	s.paint(nil, stroke, width, false)
	s.b.WriteString("/>")
}

func (s *svgSketch) text(at point, str string, size float64, bold bool, anchor textAnchor, ink color.Color) {
	// The width the layout measured with the PNG's font: a browser without
	// that font fits its own to it, so that no text leaves its box.
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" font-size="%s" textLength="%s" lengthAdjust="spacingAndGlyphs"`,
		num(at.X), num(at.Y), num(size), num(drawnWidth(str, size, bold)))
	if bold {
		s.b.WriteString(` font-weight="bold"`)
	}
	switch anchor {
	case anchorMiddle:
		s.b.WriteString(` text-anchor="middle"`)
	case anchorEnd:
		s.b.WriteString(` text-anchor="end"`)
	}
	s.paint(ink, nil, 0, false)
	fmt.Fprintf(&s.b, ">%s</text>", xmlEscape(str))
}

// paint writes the fill and stroke attributes; nil is none.
func (s *svgSketch) paint(fill, stroke color.Color, width float64, dashed bool) {
	if fill == nil {
		s.b.WriteString(` fill="none"`)
	} else {
		hex, opacity := svgColour(fill)
		fmt.Fprintf(&s.b, ` fill="%s"`, hex)
		if opacity < 1 {
			fmt.Fprintf(&s.b, ` fill-opacity="%s"`, num(opacity))
		}
	}
	if stroke != nil && width > 0 {
		hex, _ := svgColour(stroke)
		fmt.Fprintf(&s.b, ` stroke="%s" stroke-width="%s"`, hex, num(width))
		if dashed {
			s.b.WriteString(` stroke-dasharray="4 2"`)
		}
	}
}

func svgColour(c color.Color) (string, float64) {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return fmt.Sprintf("#%02x%02x%02x", n.R, n.G, n.B), float64(n.A) / 255
}

// num writes a coordinate with at most two decimals.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

func xmlEscape(s string) string { return html.EscapeString(s) }

// topologySVG is the drawing of res as one <svg> element, or "" when res
// has no topology.
func topologySVG(res *Result) string {
	l := layoutTopology(res)
	if l == nil {
		return ""
	}
	s := &svgSketch{}
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" id="topology-drawing" viewBox="0 0 %s %s" width="%s" height="%s" font-family="Liberation Sans, Arial, Helvetica, sans-serif">`,
		num(l.Width), num(l.Height), num(l.Width*4/3), num(l.Height*4/3))
	fmt.Fprintf(&s.b, "<title>%s</title>\n", xmlEscape(topologyTitle))
	paintTopology(l, s)
	s.b.WriteString("</svg>")
	return s.b.String()
}

// vgSketch draws on a gonum/plot canvas, whose origin is at the bottom
// left: every y is turned over.
type vgSketch struct {
	c      vg.Canvas
	height float64
}

func (s *vgSketch) pt(p point) vg.Point {
	return vg.Point{X: vg.Length(p.X), Y: vg.Length(s.height - p.Y)}
}

func (s *vgSketch) begin(string, string, ...string) {}
func (s *vgSketch) end()                            {}

func (s *vgSketch) rect(b box, radius float64, fill, stroke color.Color, width float64, dashed bool) {
	path := s.roundedRect(b, radius)
	if fill != nil {
		s.c.SetColor(fill)
		s.c.Fill(path)
	}
	if stroke != nil && width > 0 {
		s.c.SetColor(stroke)
		s.c.SetLineWidth(vg.Length(width))
		if dashed {
			s.c.SetLineDash([]vg.Length{4, 2}, 0)
		} else {
			s.c.SetLineDash(nil, 0)
		}
		s.c.Stroke(path)
	}
}

// roundedRect is b's outline with corners of the given radius.
func (s *vgSketch) roundedRect(b box, r float64) vg.Path {
	r = math.Min(r, math.Min(b.W, b.H)/2)
	var p vg.Path
	if r <= 0 {
		p.Move(s.pt(point{b.X, b.Y}))
		p.Line(s.pt(point{b.X + b.W, b.Y}))
		p.Line(s.pt(point{b.X + b.W, b.Y + b.H}))
		p.Line(s.pt(point{b.X, b.Y + b.H}))
		p.Close()
		return p
	}
	// Anticlockwise on the canvas, whose y points up.
	p.Move(s.pt(point{b.X + r, b.Y + b.H}))
	p.Line(s.pt(point{b.X + b.W - r, b.Y + b.H}))
	p.Arc(s.pt(point{b.X + b.W - r, b.Y + b.H - r}), vg.Length(r), -math.Pi/2, math.Pi/2)
	p.Line(s.pt(point{b.X + b.W, b.Y + r}))
	p.Arc(s.pt(point{b.X + b.W - r, b.Y + r}), vg.Length(r), 0, math.Pi/2)
	p.Line(s.pt(point{b.X + r, b.Y}))
	p.Arc(s.pt(point{b.X + r, b.Y + r}), vg.Length(r), math.Pi/2, math.Pi/2)
	p.Line(s.pt(point{b.X, b.Y + b.H - r}))
	p.Arc(s.pt(point{b.X + r, b.Y + b.H - r}), vg.Length(r), math.Pi, math.Pi/2)
	p.Close()
	return p
}

func (s *vgSketch) polygon(pts []point, fill color.Color) {
	var p vg.Path
	for i, q := range pts {
		if i == 0 {
			p.Move(s.pt(q))
		} else {
			p.Line(s.pt(q))
		}
	}
	p.Close()
	s.c.SetColor(fill)
	s.c.Fill(p)
}

func (s *vgSketch) line(from, to point, stroke color.Color, width float64) {
	var p vg.Path
	p.Move(s.pt(from))
	p.Line(s.pt(to))
	s.c.SetColor(stroke)
	s.c.SetLineWidth(vg.Length(width))
	s.c.SetLineDash(nil, 0)
	s.c.Stroke(p)
}

func (s *vgSketch) text(at point, str string, size float64, bold bool, anchor textAnchor, ink color.Color) {
	face := topoFace(size, bold)
	switch anchor {
	case anchorMiddle:
		at.X -= float64(face.Width(str)) / 2
	case anchorEnd:
		at.X -= float64(face.Width(str))
	}
	s.c.SetColor(ink)
	s.c.FillString(face, s.pt(at), str)
}

// topologyFigure draws res's infrastructure as topology.png; ok is false
// when res has no topology.
func topologyFigure(res *Result) (fig Figure, ok bool, err error) {
	l := layoutTopology(res)
	if l == nil {
		return Figure{}, false, nil
	}
	img := vgimg.NewWith(vgimg.UseWH(vg.Length(l.Width), vg.Length(l.Height)), vgimg.UseDPI(chartDPI))
	paintTopology(l, &vgSketch{c: img, height: l.Height})
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return Figure{}, false, fmt.Errorf("drawing %s: %w", TopologyFile, err)
	}
	return Figure{File: TopologyFile, Title: topologyTitle, PNG: buf.Bytes()}, true, nil
}
