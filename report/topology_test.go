package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
)

// backendsOf names n backends of a pool: pool-1 … pool-n.
func backendsOf(pool string, n int) []scenario.Backend {
	out := make([]scenario.Backend, n)
	for i := range out {
		out[i].Name = fmt.Sprintf("%s-%d", pool, i+1)
	}
	return out
}

// topologyResult is what a run of s leaves for the drawing: its nodes
// filled by AttachTiers from their counters, as live runs and simulations
// fill them, and its single points of failure.
func topologyResult(s *scenario.SUT, counters []TierNodeCounters, faults ...Fault) *Result {
	res := &Result{SchemaVersion: SchemaVersion, Strategy: "round-robin", Faults: faults, MeasuredS: 10, DurationS: 10}
	for _, c := range counters {
		res.Nodes = append(res.Nodes, Node{Name: c.Name, Requests: c.Served, Weight: 1, Utilisation: c.Utilisation})
	}
	AttachTiers(res, s, counters)
	res.SinglePointsOfFailure = SinglePointsOfFailure(&scenario.Scenario{SUT: s})
	return res
}

// countersOf are one counter per backend of s, each with utilisation util(i)
// for the i-th node of its pool, a database's first primary still its
// primary.
func countersOf(s *scenario.SUT, util func(i int) float64) []TierNodeCounters {
	var out []TierNodeCounters
	for _, p := range s.Pools {
		for i, b := range p.Backends {
			out = append(out, TierNodeCounters{Name: b.Name, Pool: p.Name, Workers: 1, Utilisation: util(i), Served: 10,
				Primary: b.Name == p.PrimaryName()})
		}
	}
	return out
}

func lampSUT() *scenario.SUT {
	return &scenario.SUT{Proxy: scenario.Proxy{ProxyOptions: scenario.ProxyOptions{Replicas: 1}},
		Pools: []scenario.Pool{{Name: "lamp", Backends: backendsOf("lamp", 1)}}}
}

// threeTierSUT is web → app → {cache → db, db}, with two replicas of the proxy.
func threeTierSUT() *scenario.SUT {
	tenth := scenario.Percent(0.1)
	return &scenario.SUT{Proxy: scenario.Proxy{ProxyOptions: scenario.ProxyOptions{Replicas: 2}},
		Pools: []scenario.Pool{
			{Name: "web", Backends: backendsOf("web", 2), Calls: []scenario.Call{{Pool: "app"}}},
			{Name: "app", Backends: backendsOf("app", 3), Calls: []scenario.Call{{Pool: "cache"}, {Pool: "db", Times: 2, Writes: tenth}}},
			{Name: "cache", Cache: &scenario.Cache{HitRatio: 0.8}, Backends: backendsOf("cache", 2), Calls: []scenario.Call{{Pool: "db"}}},
			{Name: "db", Database: &scenario.Database{Primary: "db-1", Promotion: scenario.Duration(time.Second)}, Backends: backendsOf("db", 2)},
		}}
}

func TestLayoutTopology(t *testing.T) {
	big := &scenario.SUT{Proxy: scenario.Proxy{ProxyOptions: scenario.ProxyOptions{Replicas: 3}},
		Pools: []scenario.Pool{{Name: "app", Backends: backendsOf("app", 1000)}}}
	bigCounters := countersOf(big, func(i int) float64 { return float64(i%11) / 10 }) // 0% to 100%, mean 50%

	promoted := threeTierSUT()
	promotedCounters := countersOf(promoted, func(int) float64 { return 0.25 })
	for i := range promotedCounters {
		switch promotedCounters[i].Name {
		case "db-1": // the first primary, crashed (below): db-2 took over
			promotedCounters[i].Primary = false
		case "db-2":
			promotedCounters[i].Primary, promotedCounters[i].Promotions = true, 1
		}
	}

	cases := []struct {
		name string
		res  *Result
		// pools in drawing order, each with its chips (nil: summarised)
		chips map[string][]string
		order []string
		// chip labels by node, the summary's lines by pool, edges' labels
		// by "from→to"
		labels   map[string]string
		summary  map[string][]string
		edges    map[string][]string
		spofs    []string // nodes marked, "proxy" for the proxy
		replicas []string // each replica's state
	}{
		{
			name:     "one node",
			res:      topologyResult(lampSUT(), countersOf(lampSUT(), func(int) float64 { return 0.4 })),
			order:    []string{"lamp"},
			chips:    map[string][]string{"lamp": {"lamp-1"}},
			labels:   map[string]string{"lamp-1": "40%"},
			edges:    map[string][]string{"proxy→lamp": nil},
			spofs:    []string{"proxy", "lamp-1"},
			replicas: []string{NodeUp},
		},
		{
			name:  "three tiers",
			res:   topologyResult(threeTierSUT(), countersOf(threeTierSUT(), func(i int) float64 { return 0.3 * float64(i+1) })),
			order: []string{"web", "app", "cache", "db"},
			chips: map[string][]string{"web": {"web-1", "web-2"}, "app": {"app-1", "app-2", "app-3"},
				"cache": {"cache-1", "cache-2"}, "db": {"db-1", "db-2"}},
			labels: map[string]string{"web-1": "30%", "app-3": "90%", "db-1": "30% · primary", "db-2": "60% · replica"},
			edges: map[string][]string{
				"proxy→web": nil, "web→app": {"1 call"}, "app→cache": {"1 call"},
				"app→db": {"2 calls · 10% writes"}, "cache→db": {"1 call · on a miss"},
			},
			// Two of each, and a promotable replica: none.
			replicas: []string{NodeUp, NodeUp},
		},
		{
			name: "1,000 backends collapsed",
			res: topologyResult(big, bigCounters, Fault{Kind: "crash", Node: "app-8", AtS: 2},
				Fault{Kind: "crash", Node: "app-501", AtS: 3}, Fault{Kind: "crash", Node: "app-9", AtS: 4, ForS: 1, EndS: 5}),
			order:    []string{"app"},
			chips:    map[string][]string{"app": nil},
			summary:  map[string][]string{"app": {"1000 nodes · utilisation min 0% · mean 50% · max 100%", "998 up · 2 down"}},
			edges:    map[string][]string{"proxy→app": nil},
			replicas: []string{NodeUp, NodeUp, NodeUp},
		},
		{
			name: "a database after a promotion",
			res: topologyResult(promoted, promotedCounters,
				Fault{Kind: "crash", Node: "db-1", AtS: 5}, Fault{Kind: "crash-proxy", Node: "proxy-2", AtS: 6}),
			order: []string{"web", "app", "cache", "db"},
			chips: map[string][]string{"web": {"web-1", "web-2"}, "app": {"app-1", "app-2", "app-3"},
				"cache": {"cache-1", "cache-2"}, "db": {"db-1", "db-2"}},
			labels: map[string]string{"db-1": "down · replica", "db-2": "25% · promoted"},
			edges: map[string][]string{
				"proxy→web": nil, "web→app": {"1 call"}, "app→cache": {"1 call"},
				"app→db": {"2 calls · 10% writes"}, "cache→db": {"1 call · on a miss"},
			},
			replicas: []string{NodeUp, NodeDown},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := layoutTopology(tc.res)
			if l == nil {
				t.Fatal("no layout")
			}
			checkLayoutGeometry(t, l)
			var order []string
			chips, labels, summary, edges := map[string][]string{}, map[string]string{}, map[string][]string{}, map[string][]string{}
			var spofs, replicas []string
			if l.Proxy.SPOF != "" {
				spofs = append(spofs, ProxyPool)
			}
			for _, r := range l.Proxy.Replicas {
				replicas = append(replicas, r.State)
			}
			for _, p := range l.Pools {
				order = append(order, p.Name)
				chips[p.Name] = nil
				for _, c := range p.Nodes {
					chips[p.Name] = append(chips[p.Name], c.Name)
					labels[c.Name] = c.Label
					if c.SPOF != "" {
						spofs = append(spofs, c.Name)
					}
				}
				if p.Summary != nil {
					summary[p.Name] = p.Summary.Lines
				}
			}
			for _, e := range l.Edges {
				edges[e.From+"→"+e.To] = e.Labels
			}
			for name, want := range tc.labels {
				if labels[name] != want {
					t.Errorf("%s reads %q, want %q", name, labels[name], want)
				}
			}
			for _, c := range []struct {
				what      string
				got, want any
			}{
				{"pools", order, tc.order}, {"chips", chips, tc.chips}, {"edges", edges, tc.edges},
				{"single points of failure", spofs, tc.spofs}, {"replicas", replicas, tc.replicas},
			} {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s %v, want %v", c.what, c.got, c.want)
				}
			}
			if tc.summary != nil && !reflect.DeepEqual(summary, tc.summary) {
				t.Errorf("summaries %q, want %q", summary, tc.summary)
			}
		})
	}
}

// checkLayoutGeometry holds a layout to what makes it readable: everything
// on the canvas, no pool over another or the proxy, each node in its pool,
// each pool below the pools that call it, each call from its caller's
// bottom to the top of the pool called, and its label in a gap between
// rows.
func checkLayoutGeometry(t *testing.T, l *topologyLayout) {
	t.Helper()
	canvas := box{0, 0, l.Width, l.Height}
	boxes := map[string]box{ProxyPool: l.Proxy.box}
	inside := func(what string, in, b box) {
		if b.X < in.X-0.01 || b.Y < in.Y-0.01 || b.X+b.W > in.X+in.W+0.01 || b.Y+b.H > in.Y+in.H+0.01 {
			t.Errorf("%s %+v is not inside %+v", what, b, in)
		}
	}
	inside("the proxy", canvas, l.Proxy.box)
	for _, r := range l.Proxy.Replicas {
		inside(r.Name, l.Proxy.box, r.box)
	}
	fits := func(text string, size float64, bold bool, width float64) {
		if w := drawnWidth(text, size, bold); w > width+0.01 {
			t.Errorf("%q is %g points wide, more than its %g", text, w, width)
		}
	}
	for _, p := range l.Pools {
		inside("pool "+p.Name, canvas, p.box)
		fits(p.Title, titleSize, true, p.W-2*topoPad)
		fits(p.Detail, detailSize, false, p.W-2*topoPad)
		for name, other := range boxes {
			if overlap(p.box, other) {
				t.Errorf("pool %s %+v overlaps %s %+v", p.Name, p.box, name, other)
			}
		}
		boxes[p.Name] = p.box
		for _, c := range p.Nodes {
			inside(c.Name, p.box, c.box)
			fits(c.Name, chipSize, true, c.W-8)
			fits(c.Label, chipSize-0.5, false, c.W-8)
		}
		if s := p.Summary; s != nil {
			inside("the summary of "+p.Name, p.box, s.box)
			inside("the summary's bar", s.box, s.Bar)
			for i, line := range s.Lines {
				fits(line, detailSize, i < s.BoldLines, s.W)
			}
		}
	}
	for _, g := range l.Legend {
		inside("the legend's "+g.Kind, canvas, g.Swatch)
	}
	for _, e := range l.Edges {
		from, to := boxes[e.From], boxes[e.To]
		if e.Start.Y != from.bottom() || e.Start.X < from.X || e.Start.X > from.X+from.W {
			t.Errorf("%s→%s leaves at %+v, not from the bottom of %+v", e.From, e.To, e.Start, from)
		}
		if e.End.Y != to.Y || e.End.X < to.X || e.End.X > to.X+to.W {
			t.Errorf("%s→%s arrives at %+v, not at the top of %+v", e.From, e.To, e.End, to)
		}
		if from.bottom() >= to.Y {
			t.Errorf("%s (bottom %g) is not above %s (top %g)", e.From, from.bottom(), e.To, to.Y)
		}
		for name, b := range boxes {
			if e.LabelAt.X > b.X && e.LabelAt.X < b.X+b.W && e.LabelAt.Y > b.Y && e.LabelAt.Y < b.bottom() {
				t.Errorf("the label of %s→%s at %+v lies on %s", e.From, e.To, e.LabelAt, name)
			}
		}
	}
}

func overlap(a, b box) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

// However many nodes a pool has, the drawing stays the same small size.
func TestLayoutTopologyStaysSmall(t *testing.T) {
	for _, n := range []int{1, maxDrawnNodes, maxDrawnNodes + 1, 1000} {
		s := &scenario.SUT{Pools: []scenario.Pool{{Name: "app", Backends: backendsOf("app", n)}}}
		l := layoutTopology(topologyResult(s, countersOf(s, func(int) float64 { return 0.5 })))
		if l.Height > 450 {
			t.Errorf("%d nodes: %g points high, want at most 450", n, l.Height)
		}
		checkLayoutGeometry(t, l)
	}
}

// Five pools side by side, one of 1,000 nodes: its summary wraps within
// its narrow box instead of running out of it. Forty proxy replicas are a
// summary too, without the utilisation they do not measure.
func TestLayoutTopologyNarrowSummary(t *testing.T) {
	s := &scenario.SUT{Proxy: scenario.Proxy{ProxyOptions: scenario.ProxyOptions{Replicas: 40}}}
	for _, name := range []string{"a", "b", "c", "d"} {
		s.Pools = append(s.Pools, scenario.Pool{Name: name, Backends: backendsOf(name, 3)})
	}
	s.Pools = append(s.Pools, scenario.Pool{Name: "search-with-a-long-name", Backends: backendsOf("search-with-a-long-name", 1000)})
	res := topologyResult(s, countersOf(s, func(i int) float64 { return float64(i%7) / 7 }))
	l := layoutTopology(res)
	checkLayoutGeometry(t, l)
	wide := l.Pools[len(l.Pools)-1]
	if wide.Summary == nil || len(wide.Summary.Lines) < 3 {
		t.Fatalf("the summary of a narrow pool is %+v, want its lines wrapped", wide.Summary)
	}
	if p := l.Proxy.Summary; p == nil || !reflect.DeepEqual(p.Lines, []string{"40 replicas", "40 up"}) || p.Bar.W != 0 {
		t.Errorf("40 replicas summarised as %+v, want their count and states, no utilisation", p)
	}
}

func TestNaturalCompare(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"web-2", "web-10", -1},
		{"web-10", "web-2", 1},
		{"web-02", "web-2", 0},
		{"app-1", "web-1", -1},
		{"db", "db-1", -1},
		{"db-1a", "db-1b", -1},
		{"a10b2", "a10b10", -1},
	}
	for _, tc := range cases {
		if got := naturalCompare(tc.a, tc.b); got != tc.want {
			t.Errorf("naturalCompare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// The drawing in report.html is well-formed SVG with one group per node,
// named, with its state; the page's policy, which allows no style
// attribute, is kept.
func TestTopologySVGInReportHTML(t *testing.T) {
	res := topologyResult(threeTierSUT(), countersOf(threeTierSUT(), func(int) float64 { return 0.5 }))
	res.Scenario = "three tiers <&>"
	page := renderHTML(t, res)
	m := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindString(page)
	if m == "" {
		t.Fatal("no svg in report.html")
	}
	if strings.Contains(m, " style=") || strings.Contains(m, "href") {
		t.Error("the drawing has a style attribute or a link")
	}
	nodes := map[string]string{}
	dec := xml.NewDecoder(strings.NewReader(m))
	dec.Strict = true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the drawing is not well-formed: %v", err)
		}
		if el, ok := tok.(xml.StartElement); ok && el.Name.Local == "g" && attr(el, "class") == "topology-node" {
			nodes[attr(el, "data-name")] = attr(el, "data-state")
		}
	}
	if len(nodes) != len(res.Nodes)+2 {
		t.Errorf("%d nodes drawn (%v), want the %d nodes and 2 proxy replicas", len(nodes), nodes, len(res.Nodes))
	}
	for _, n := range res.Nodes {
		if nodes[n.Name] != NodeUp {
			t.Errorf("%s drawn %q, want up", n.Name, nodes[n.Name])
		}
	}
	for _, want := range []string{`<h2 id="infrastructure">`, `<h3 id="tiers">`, `<td>db</td><td>database</td>`,
		`<p class="meta" id="single-points-of-failure">Single points of failure: none.</p>`} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, `alt="`+topologyTitle+`"`) {
		t.Error("the drawing is also embedded as an image")
	}
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name || a.Name.Space+"-"+a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// The projection shows in report.html with the terminal's rows.
func TestReportHTMLShowsTheProjection(t *testing.T) {
	page := renderHTML(t, fixtureResult())
	for _, want := range []string{`<h3 id="projection">Projected availability: `, "<td>route app</td>", "<td>service</td>",
		`<h3 id="single-points-of-failure">Single points of failure (1)</h3>`, "<td>proxy</td><td>every request passes the proxy"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, "<svg") {
		t.Error("a result without a topology has a drawing")
	}
}

// topology.png is written beside the charts, decodes, and is the
// layout's size.
func TestWriteFilesDrawsTopologyPNG(t *testing.T) {
	dir := t.TempDir()
	res := topologyResult(threeTierSUT(), countersOf(threeTierSUT(), func(int) float64 { return 0.5 }))
	if _, err := WriteFiles(dir, res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, TopologyFile))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s does not decode: %v", TopologyFile, err)
	}
	l := layoutTopology(res)
	w, h := int(l.Width*chartDPI/72+0.5), int(l.Height*chartDPI/72+0.5)
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Errorf("%s is %v, want %dx%d", TopologyFile, got, w, h)
	}
	// Something is drawn where the proxy is: not every pixel is white.
	p := l.Proxy
	x, y := int((p.X+p.W/2)*chartDPI/72), int((p.Y+1)*chartDPI/72)
	if r, g, b, _ := img.At(x, y).RGBA(); r == 0xffff && g == 0xffff && b == 0xffff {
		t.Errorf("the proxy's frame is not drawn at (%d, %d)", x, y)
	}
	noTopology := t.TempDir()
	if _, err := WriteFiles(noTopology, fixtureResult()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(noTopology, TopologyFile)); !os.IsNotExist(err) {
		t.Errorf("a result without a topology has %s (%v)", TopologyFile, err)
	}
}

// The drawing is the result's alone: result.json read back, as ilities
// report reads it, draws the same, and so does the merge of a run's
// segments, but for the tier figures a merge does not keep.
func TestTopologyDrawsTheSameFromASavedOrMergedResult(t *testing.T) {
	res := topologyResult(threeTierSUT(), countersOf(threeTierSUT(), func(i int) float64 { return 0.2 * float64(i+1) }),
		Fault{Kind: "crash-proxy", Node: "proxy-2", AtS: 3})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	saved, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var parts []*Result
	for _, segment := range []string{"1/2", "2/2"} {
		p := *res
		p.Segment, p.Nodes = segment, append([]Node(nil), res.Nodes...)
		parts = append(parts, &p)
	}
	merged, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	untiered := *res
	untiered.Tiers = nil
	for _, c := range []struct {
		name      string
		got, want *Result
	}{
		{"saved", saved, res},
		{"merged", merged, &untiered},
	} {
		got, ok, err := topologyFigure(c.got)
		if err != nil || !ok {
			t.Fatalf("%s: drawn %v, %v", c.name, ok, err)
		}
		want, _, _ := topologyFigure(c.want)
		if !bytes.Equal(got.PNG, want.PNG) {
			t.Errorf("%s: %s differs from the run's", c.name, TopologyFile)
		}
		if topologySVG(c.got) != topologySVG(c.want) {
			t.Errorf("%s: the SVG differs from the run's", c.name)
		}
	}
	if topologySVG(&untiered) == topologySVG(res) {
		t.Error("the tier figures change nothing in the drawing")
	}
}

func TestNodeStates(t *testing.T) {
	cases := []struct {
		name   string
		faults []Fault
		want   map[string]string
	}{
		{"no fault", nil, map[string]string{}},
		{"a crash to the end", []Fault{{Kind: "crash", Node: "a", AtS: 3}}, map[string]string{"a": NodeDown}},
		{"a crash lifted", []Fault{{Kind: "crash", Node: "a", AtS: 3, ForS: 2, EndS: 5}}, map[string]string{}},
		{"a crash that could not be applied", []Fault{{Kind: "crash", Node: "a", AtS: 3, Error: "no node a"}}, map[string]string{}},
		{"lifted, then crashed again for good", []Fault{{Kind: "crash", Node: "a", AtS: 1, ForS: 1, EndS: 2},
			{Kind: "crash", Node: "a", AtS: 4}}, map[string]string{"a": NodeDown}},
		{"a replica of the proxy", []Fault{{Kind: "crash-proxy", Node: "proxy-2", AtS: 1}}, map[string]string{"proxy-2": NodeDown}},
		{"removed stays removed", []Fault{{Kind: "remove-backend", Node: "b", AtS: 1}, {Kind: "crash", Node: "b", AtS: 2}},
			map[string]string{"b": NodeRemoved}},
		{"other faults leave a node up", []Fault{{Kind: "slow", Node: "a", AtS: 1}, {Kind: "add-backend", Node: "c", AtS: 1}},
			map[string]string{}},
	}
	for _, tc := range cases {
		if got := NodeStates(tc.faults); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
