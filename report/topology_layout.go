package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot/font"

	"github.com/ilities/ilities/scenario"
)

// The drawing of the infrastructure comes in two steps: layoutTopology
// places every part once, in points from the top left corner, and
// paintTopology (topology_draw.go) draws that layout on a sketch, the SVG
// of report.html or the canvas of topology.png, so both pictures show the
// same positions.

// Geometry, in points.
const (
	topoWidth    = float64(chartWidth) // as wide as the charts
	topoMargin   = 12.0
	topoPad      = 7.0  // inside a pool's box
	topoHeader   = 30.0 // a pool's title and detail lines
	proxyHeader  = 18.0 // the proxy's title line
	chipW, chipH = 90.0, 30.0
	chipGap      = 6.0
	poolGap      = 14.0 // between pools side by side
	levelGap     = 46.0 // between rows: the calls and their labels
	summaryLineH = 11.0 // a line of a pool's summary
	summaryBarH  = 7.0  // its utilisation range bar
	legendGap    = 18.0 // between the last row and the legend
	legendH      = 16.0
	minPoolW     = chipW + 2*topoPad
	// maxDrawnNodes is how many nodes a pool shows one by one; past it
	// they are one summary row (counts by state, utilisation's range).
	maxDrawnNodes = 32
)

// Text sizes, in points.
const (
	titleSize  = 9.5
	detailSize = 7.5
	chipSize   = 8.0
	labelSize  = 7.5
)

type point struct{ X, Y float64 }

// box is a rectangle from its top left corner.
type box struct{ X, Y, W, H float64 }

func (b box) bottom() float64 { return b.Y + b.H }

// topologyLayout is where each part of the infrastructure is drawn.
type topologyLayout struct {
	Width, Height float64
	Proxy         proxyPart
	Pools         []poolPart
	Edges         []edgePart
	Legend        []legendPart
}

// proxyPart is the proxy and its replicas.
type proxyPart struct {
	box
	Title string
	// SPOF says why the proxy is a single point of failure; "" when it
	// is not.
	SPOF     string
	Replicas []nodePart
	Summary  *summaryPart
}

// poolPart is one pool: its nodes one by one, or their summary.
type poolPart struct {
	box
	Name, Kind    string
	Title, Detail string
	Nodes         []nodePart
	Summary       *summaryPart // in place of Nodes past maxDrawnNodes
}

// nodePart is one node: a backend with its utilisation, or a proxy replica.
type nodePart struct {
	box
	Name, Pool  string
	State, Role string
	// Utilisation is drawn as a bar when Busy (a backend: the replicas'
	// is not measured).
	Utilisation float64
	Busy        bool
	// Label is the line under the name: utilisation, state, role.
	Label string
	// SPOF says why the node is a single point of failure; "" when it is not.
	SPOF string
}

// summaryPart stands for a pool's nodes past maxDrawnNodes: its figures
// (the first BoldLines lines) and its counts by state and role.
type summaryPart struct {
	box
	Lines          []string
	BoldLines      int
	Min, Mean, Max float64 // utilisation
	Bar            box     // the range bar, 0 to 100%
}

// edgePart is the proxy's routing to a pool, or a pool's calls to another
// (one label line per call).
type edgePart struct {
	From, To   string // pool names; ProxyPool for the proxy
	Start, End point
	Labels     []string
	LabelAt    point // the centre of the label lines
}

// The kinds of a legend's entry.
const (
	legendUp      = "up"
	legendDown    = "down"
	legendRemoved = "removed"
	legendSPOF    = "spof"
	legendBusy    = "busy"
)

type legendPart struct {
	Kind   string
	Swatch box
	Label  string
}

// layoutTopology places res's infrastructure: the proxy on top, each pool
// on the row of its depth in the calls (the routed ones first), the calls
// between them, and a legend. Nil when res has no topology (an external
// target, a result written before it was recorded).
func layoutTopology(res *Result) *topologyLayout {
	t := res.Topology
	if t == nil {
		return nil
	}
	l := &topologyLayout{Width: topoWidth}
	nodes, spofs, proxySPOF := topologyMembers(res)
	states := NodeStates(res.Faults)
	y := topoMargin
	l.Proxy = layoutProxy(res, states, proxySPOF, y)
	y = l.Proxy.bottom() + levelGap
	for _, level := range poolLevels(t.Pools) {
		perRow := max(1, int(math.Floor((topoWidth-2*topoMargin+poolGap)/(minPoolW+poolGap))))
		for row := range slices.Chunk(level, perRow) {
			colW := (topoWidth - 2*topoMargin - float64(len(row)-1)*poolGap) / float64(len(row))
			rowH := 0.0
			for i, p := range row {
				part := layoutPool(res, p, nodes[p.Name], states, spofs, colW)
				part.X = topoMargin + float64(i)*(colW+poolGap) + (colW-part.W)/2
				part.Y = y
				part.place()
				l.Pools = append(l.Pools, part)
				rowH = max(rowH, part.H)
			}
			y += rowH + levelGap
		}
	}
	y += legendGap - levelGap
	l.Legend = layoutLegend(y)
	l.Height = y + legendH + topoMargin
	l.Edges = layoutEdges(res, l)
	return l
}

// topologyMembers are each pool's nodes in natural order (web-2 before
// web-10), the nodes' reasons to be single points of failure, and the
// proxy's.
func topologyMembers(res *Result) (map[string][]Node, map[string]string, string) {
	nodes := map[string][]Node{}
	for _, n := range res.Nodes {
		if n.Pool != "" {
			nodes[n.Pool] = append(nodes[n.Pool], n)
		}
	}
	for _, ns := range nodes {
		slices.SortFunc(ns, func(a, b Node) int { return naturalCompare(a.Name, b.Name) })
	}
	spofs := map[string]string{}
	proxy := ""
	for _, sp := range res.SinglePointsOfFailure {
		if sp.Kind == SPOFProxy {
			proxy = sp.Why
			continue
		}
		spofs[sp.Name] = sp.Why
	}
	return nodes, spofs, proxy
}

// poolLevels groups the pools by their depth in the calls: the routed
// pools, then each tier one row below its deepest caller.
func poolLevels(pools []TopologyPool) [][]*TopologyPool {
	depth := map[string]int{}
	var walk func(p *TopologyPool, d int)
	byName := map[string]*TopologyPool{}
	for i := range pools {
		byName[pools[i].Name] = &pools[i]
	}
	walk = func(p *TopologyPool, d int) {
		if old, ok := depth[p.Name]; (ok && old >= d) || d > len(pools) { // the calls form no cycle; this only guards
			return
		}
		depth[p.Name] = d
		for _, c := range p.Calls {
			if callee := byName[c.Pool]; callee != nil {
				walk(callee, d+1)
			}
		}
	}
	for i := range pools {
		if pools[i].Routed {
			walk(&pools[i], 0)
		}
	}
	var levels [][]*TopologyPool
	for i := range pools {
		d, ok := depth[pools[i].Name]
		if !ok { // reached by no routed pool: drawn on the top row
			d = 0
		}
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], &pools[i])
	}
	return levels
}

func layoutProxy(res *Result, states map[string]string, spof string, y float64) proxyPart {
	t := res.Topology
	kind := t.Proxy.Kind
	if kind == "" || kind == scenario.ProxyBuiltin {
		kind = "built-in"
	}
	title := "proxy · " + kind
	if res.Strategy != "" {
		title += " · " + res.Strategy
	}
	replicas := make([]Node, t.Proxy.Replicas)
	for i := range replicas {
		replicas[i].Name = fmt.Sprintf("%s-%d", ProxyPool, i+1)
	}
	part := proxyPart{SPOF: spof}
	full := topoWidth - 2*topoMargin
	width := max(minPoolW, min(drawnWidth(title, titleSize, true)+2*topoPad, full))
	inner := layoutMembers(replicas, states, nil, full-2*topoPad, false)
	part.W = max(width, inner.w+2*topoPad)
	part.H = proxyHeader + inner.h + topoPad
	part.X, part.Y = (topoWidth-part.W)/2, y
	part.Title = fitText(title, titleSize, true, part.W-2*topoPad)
	part.Replicas, part.Summary = inner.chips, inner.summary
	offsetMembers(part.Replicas, part.Summary, part.X+topoPad, y+proxyHeader)
	for i := range part.Replicas {
		part.Replicas[i].Pool = ProxyPool
	}
	return part
}

func layoutPool(res *Result, p *TopologyPool, nodes []Node, states, spofs map[string]string, colW float64) poolPart {
	part := poolPart{Name: p.Name, Kind: p.Kind}
	title := p.Name
	if p.Kind != p.Name { // not "cache · cache"
		title += " · " + p.Kind
	}
	detail := poolDetail(res, p, nodes)
	want := max(drawnWidth(title, titleSize, true), drawnWidth(detail, detailSize, false)) + 2*topoPad
	width := max(minPoolW, min(want, colW))
	inner := layoutMembers(nodes, states, spofs, colW-2*topoPad, true)
	part.W = min(max(width, inner.w+2*topoPad), colW)
	part.H = topoHeader + inner.h + topoPad
	part.Title = fitText(title, titleSize, true, part.W-2*topoPad)
	part.Detail = fitText(detail, detailSize, false, part.W-2*topoPad)
	part.Nodes, part.Summary = inner.chips, inner.summary
	return part
}

// place moves a pool's nodes under its header, once the pool is placed.
func (p *poolPart) place() {
	offsetMembers(p.Nodes, p.Summary, p.X+topoPad, p.Y+topoHeader)
}

// poolDetail is the line under a pool's title: its nodes, their mean
// utilisation, and what its tier figures add.
func poolDetail(res *Result, p *TopologyPool, nodes []Node) string {
	parts := []string{fmt.Sprintf("%d %s", len(nodes), plural(len(nodes), "node", "nodes"))}
	if len(nodes) > 0 {
		var sum float64
		for _, n := range nodes {
			sum += n.Utilisation
		}
		parts = append(parts, "utilisation "+wholePercent(sum/float64(len(nodes))))
	}
	for _, tier := range res.Tiers {
		if tier.Name != p.Name {
			continue
		}
		if !tier.Routed {
			parts = append(parts, fmt.Sprintf("%.2f visits", tier.Visits))
		}
		if c := tier.Cache; c != nil && c.Hits+c.Misses > 0 {
			parts = append(parts, "hit ratio "+wholePercent(c.HitRatio))
		}
		if d := tier.Database; d != nil && d.Promotions > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", d.Promotions, plural(int(d.Promotions), "promotion", "promotions")))
		}
	}
	return strings.Join(parts, " · ")
}

// members are a pool's nodes laid out from (0, 0): chips, or a summary.
type members struct {
	chips   []nodePart
	summary *summaryPart
	w, h    float64
}

// layoutMembers lays nodes out in rows of chips within width, or, past
// maxDrawnNodes, as one summary row as wide as width; states are the
// nodes' other than up (NodeStates). busy: the nodes measure their
// utilisation.
func layoutMembers(nodes []Node, states, spofs map[string]string, width float64, busy bool) members {
	if len(nodes) > maxDrawnNodes {
		s, figures, counts := summarise(nodes, states, spofs, busy)
		s.Lines = wrapPhrases(figures, detailSize, true, width)
		s.BoldLines = len(s.Lines)
		s.Lines = append(s.Lines, wrapPhrases(counts, detailSize, false, width)...)
		text := summaryLineH * float64(len(s.Lines))
		s.W, s.H = width, text
		if busy {
			s.Bar = box{0, text + 3, width, summaryBarH}
			s.H += summaryBarH + 6
		}
		return members{summary: &s, w: width, h: s.H}
	}
	if len(nodes) == 0 {
		return members{h: 12} // room for "no nodes"
	}
	perRow := max(1, min(len(nodes), int((width+chipGap)/(chipW+chipGap))))
	rows := (len(nodes) + perRow - 1) / perRow
	m := members{w: float64(perRow)*chipW + float64(perRow-1)*chipGap, h: float64(rows)*chipH + float64(rows-1)*chipGap}
	for i, n := range nodes {
		c := nodePart{Name: n.Name, Pool: n.Pool, State: cmp.Or(states[n.Name], NodeUp), Role: n.Role, Utilisation: n.Utilisation, Busy: busy, SPOF: spofs[n.Name]}
		c.box = box{float64(i%perRow) * (chipW + chipGap), float64(i/perRow) * (chipH + chipGap), chipW, chipH}
		c.Label = fitText(chipLabel(c), chipSize-0.5, false, chipW-8)
		c.Name = fitText(c.Name, chipSize, true, chipW-8)
		m.chips = append(m.chips, c)
	}
	return m
}

// offsetMembers moves chips and a summary laid out from (0, 0) to (x, y).
func offsetMembers(chips []nodePart, s *summaryPart, x, y float64) {
	for i := range chips {
		chips[i].X += x
		chips[i].Y += y
	}
	if s != nil {
		s.X, s.Y = x, y
		s.Bar.X += x
		s.Bar.Y += y
	}
}

// chipLabel is a node's second line: its utilisation or why it serves
// nothing, and its role.
func chipLabel(c nodePart) string {
	var parts []string
	switch {
	case c.State != NodeUp:
		parts = append(parts, c.State)
	case c.Busy:
		parts = append(parts, wholePercent(c.Utilisation))
	default:
		parts = append(parts, NodeUp)
	}
	if c.Role != "" {
		parts = append(parts, c.Role)
	}
	return strings.Join(parts, " · ")
}

// summarise counts nodes by state and role, and their single points of
// failure, with the range of their utilisation when they measure it
// (busy): the summary's figures and its counts as phrases, for
// wrapPhrases.
func summarise(nodes []Node, states, spofs map[string]string, busy bool) (s summaryPart, figures, counted []string) {
	s.Min, s.Max = math.Inf(1), math.Inf(-1)
	counts := map[string]int{}
	var sum float64
	for _, n := range nodes {
		s.Min, s.Max = min(s.Min, n.Utilisation), max(s.Max, n.Utilisation)
		sum += n.Utilisation
		counts[cmp.Or(states[n.Name], NodeUp)]++
		if n.Role != "" {
			counts[n.Role]++
		}
		if spofs[n.Name] != "" {
			counts[legendSPOF]++
		}
	}
	s.Mean = sum / float64(len(nodes))
	for _, key := range []string{NodeUp, NodeDown, NodeRemoved, RolePrimary, RolePromoted, RoleReplica, legendSPOF} {
		if n := counts[key]; n > 0 {
			word := key
			if key == legendSPOF {
				word = plural(n, "single point of failure", "single points of failure")
			}
			counted = append(counted, fmt.Sprintf("%d %s", n, word))
		}
	}
	if !busy { // the proxy's replicas
		return s, []string{fmt.Sprintf("%d replicas", len(nodes))}, counted
	}
	figures = []string{fmt.Sprintf("%d nodes", len(nodes)), "utilisation min " + wholePercent(s.Min),
		"mean " + wholePercent(s.Mean), "max " + wholePercent(s.Max)}
	return s, figures, counted
}

// wrapPhrases joins phrases with " · " into lines no wider than width; a
// phrase wider than a line on its own is shortened.
func wrapPhrases(phrases []string, size float64, bold bool, width float64) []string {
	var lines []string
	for _, p := range phrases {
		if n := len(lines); n > 0 && drawnWidth(lines[n-1]+" · "+p, size, bold) <= width {
			lines[n-1] += " · " + p
			continue
		}
		lines = append(lines, fitText(p, size, bold, width))
	}
	return lines
}

// layoutEdges draws the proxy's routes to the routed pools (labelled with
// their share of the answers when there are several) and each pool's calls
// to another, the calls between one pair of pools on one edge.
func layoutEdges(res *Result, l *topologyLayout) []edgePart {
	at := map[string]*box{ProxyPool: &l.Proxy.box}
	kinds := map[string]string{}
	for i := range l.Pools {
		at[l.Pools[i].Name] = &l.Pools[i].box
		kinds[l.Pools[i].Name] = l.Pools[i].Kind
	}
	var edges []edgePart
	index := map[[2]string]int{}
	add := func(from, to, label string) {
		if at[from] == nil || at[to] == nil {
			return
		}
		k := [2]string{from, to}
		i, ok := index[k]
		if !ok {
			i = len(edges)
			index[k] = i
			edges = append(edges, edgePart{From: from, To: to})
		}
		if label != "" {
			edges[i].Labels = append(edges[i].Labels, label)
		}
	}
	shares := routedShares(res)
	for _, p := range res.Topology.Pools {
		if p.Routed {
			add(ProxyPool, p.Name, shares[p.Name])
		}
	}
	for _, p := range res.Topology.Pools {
		for _, c := range p.Calls {
			add(p.Name, c.Pool, callLabel(c, kinds[p.Name] == TierKindCache))
		}
	}
	// Each box's edges leave and arrive spread along its side, in the
	// order of the boxes at their other end, so that they do not cross there.
	centre := func(name string) float64 { b := at[name]; return b.X + b.W/2 }
	spread := func(side func(e *edgePart) string, other func(e *edgePart) string, set func(e *edgePart, x float64)) {
		groups := map[string][]*edgePart{}
		for i := range edges {
			groups[side(&edges[i])] = append(groups[side(&edges[i])], &edges[i])
		}
		for name, group := range groups {
			slices.SortStableFunc(group, func(a, b *edgePart) int { return cmp.Compare(centre(other(a)), centre(other(b))) })
			b := at[name]
			for i, e := range group {
				set(e, b.X+b.W*float64(i+1)/float64(len(group)+1))
			}
		}
	}
	spread(func(e *edgePart) string { return e.From }, func(e *edgePart) string { return e.To },
		func(e *edgePart, x float64) { e.Start = point{x, at[e.From].bottom()} })
	spread(func(e *edgePart) string { return e.To }, func(e *edgePart) string { return e.From },
		func(e *edgePart, x float64) { e.End = point{x, at[e.To].Y} })
	for i := range edges {
		e := &edges[i]
		for j, s := range e.Labels {
			e.Labels[j] = fitText(s, labelSize, false, 2*minPoolW)
		}
		// In the gap above the pool called, where no box is.
		y := e.End.Y - levelGap/2
		f := (y - e.Start.Y) / (e.End.Y - e.Start.Y)
		e.LabelAt = point{e.Start.X + f*(e.End.X-e.Start.X), y}
	}
	return edges
}

// routedShares is each routed pool's share of the answers the generator
// counted, as an edge label, when the proxy routes to several pools.
func routedShares(res *Result) map[string]string {
	out := map[string]string{}
	routed := 0
	for _, p := range res.Topology.Pools {
		if p.Routed {
			routed++
		}
	}
	if routed < 2 {
		return out
	}
	counts := map[string]int64{}
	var total int64
	for _, n := range res.Nodes {
		counts[n.Pool] += n.Requests
		total += n.Requests
	}
	if total == 0 {
		return out
	}
	for _, p := range res.Topology.Pools {
		if p.Routed {
			out[p.Name] = formatShare(float64(counts[p.Name])/float64(total)) + " of answers"
		}
	}
	return out
}

// callLabel says what a call asks of the pool called: "2 calls",
// "1 call · 20% of requests · writes", "1 call · on a miss".
func callLabel(c TopologyCall, fromCache bool) string {
	parts := []string{fmt.Sprintf("%d %s", c.Times, plural(c.Times, "call", "calls"))}
	switch {
	case c.Probability < 1 && fromCache:
		parts = append(parts, formatShareOf(c.Probability)+" of misses")
	case c.Probability < 1:
		parts = append(parts, formatShareOf(c.Probability)+" of requests")
	case fromCache:
		parts = append(parts, "on a miss")
	}
	switch {
	case c.Writes >= 1:
		parts = append(parts, "writes")
	case c.Writes > 0:
		parts = append(parts, formatShareOf(c.Writes)+" writes")
	}
	return strings.Join(parts, " · ")
}

// layoutLegend is one row of what the chips' looks mean.
func layoutLegend(y float64) []legendPart {
	entries := []legendPart{
		{Kind: legendUp, Label: "up"},
		{Kind: legendDown, Label: "down at the end"},
		{Kind: legendRemoved, Label: "removed"},
		{Kind: legendSPOF, Label: "single point of failure"},
		{Kind: legendBusy, Label: "utilisation (bar)"},
	}
	x := 0.0
	for i := range entries {
		entries[i].Swatch = box{x, y, 18, 11}
		x += 18 + 4 + drawnWidth(entries[i].Label, labelSize, false) + 14
	}
	offset := (topoWidth - (x - 14)) / 2 // centred, as the proxy is
	for i := range entries {
		entries[i].Swatch.X += offset
	}
	return entries
}

// topoFace is the face the drawing writes with: the charts' sans-serif.
func topoFace(size float64, bold bool) font.Face {
	f := font.From(sansFont, font.Length(size))
	if bold {
		f.Weight = xfont.WeightBold
	}
	return font.DefaultCache.Lookup(f, f.Size)
}

func drawnWidth(s string, size float64, bold bool) float64 {
	face := topoFace(size, bold)
	return float64(face.Width(s))
}

// fitText shortens s with an ellipsis until it fits within width.
func fitText(s string, size float64, bold bool, width float64) string {
	if drawnWidth(s, size, bold) <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && drawnWidth(string(r)+"…", size, bold) > width {
		r = r[:len(r)-1]
	}
	return strings.TrimSpace(string(r)) + "…"
}

// wholePercent shows a fraction as a whole percentage: 63%.
func wholePercent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// naturalCompare orders names with their numbers by value: web-2 before
// web-10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(int(a[0]), int(b[0]))
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
