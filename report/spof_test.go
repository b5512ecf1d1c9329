package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

func TestSinglePointsOfFailure(t *testing.T) {
	const threeTiers = `
proxy: {replicas: 2}
pools:
  - {name: web, backends: [{name: web-1}, {name: web-2}], calls: [{pool: app}]}
  - {name: app, backends: [{name: app-1}, {name: app-2}], calls: [{pool: db, writes: 10%}]}
  - name: db
    database: {promotion: %s}
    backends: [{name: db-1}, {name: db-2}]`
	type spof struct{ kind, name, pool, why string } // why: a part of it
	cases := []struct {
		name string
		sut  string
		want []spof
	}{{
		name: "a LAMP-like node: everything on one node behind one proxy",
		sut:  `pools: [{name: lamp, backends: [{name: lamp-1}]}]`,
		want: []spof{
			{SPOFProxy, "proxy", "", "one replica (sut.proxy.replicas: 1)"},
			{SPOFNode, "lamp-1", "lamp", "the only backend of pool lamp; the proxy routes requests to lamp"},
		},
	}, {
		name: "three tiers, a database without promotion: its primary",
		sut:  strings.Replace(threeTiers, "%s", "0s", 1),
		want: []spof{{SPOFPrimary, "db-1", "db", "the primary of database pool db takes every write and no replica is promotable (promotion: 0); app calls db"}},
	}, {
		name: "three tiers, a database with promotion: none",
		sut:  strings.Replace(threeTiers, "%s", "10s", 1),
	}, {
		name: "a real proxy runs as one instance",
		sut:  `{proxy: {kind: nginx}, pools: [{name: web, backends: [{name: w1}, {name: w2}]}]}`,
		want: []spof{{SPOFProxy, "proxy", "", "one nginx process"}},
	}, {
		name: "a second proxy replica is no single point",
		sut:  `{proxy: {replicas: 2}, pools: [{name: web, backends: [{name: w1}, {name: w2}]}]}`,
	}, {
		name: "a pool that needs all its backends: each of them",
		sut:  `{proxy: {replicas: 2}, pools: [{name: app, needs: 2, backends: [{name: a1}, {name: a2}]}, {name: spare, needs: 2, backends: [{name: s1}, {name: s2}, {name: s3}]}]}`,
		want: []spof{
			{SPOFNode, "a1", "app", "one of the 2 backends pool app needs all of (needs: 2)"},
			{SPOFNode, "a2", "app", "one of the 2 backends pool app needs all of (needs: 2)"},
		},
	}, {
		name: "a tier only some requests reach is one for those that do",
		sut: `
proxy: {replicas: 2}
pools:
  - {name: web, backends: [{name: w1}, {name: w2}], calls: [{pool: search, probability: 30%}, {pool: cache}]}
  - {name: search, backends: [{name: s1}]}
  - {name: cache, cache: {hit_ratio: 80%}, backends: [{name: c1}, {name: c2}], calls: [{pool: db}]}
  - {name: db, backends: [{name: d1}]}`,
		want: []spof{
			{SPOFNode, "s1", "search", "the only backend of tier search; web (30% of its requests) calls search: only the requests that reach it need it"},
			{SPOFNode, "d1", "db", "the only backend of tier db; cache (on a miss) calls db: only the requests that reach it need it"},
		},
	}, {
		name: "a database of one node that takes no write, and one that does",
		sut: `
proxy: {replicas: 2}
pools:
  - {name: web, backends: [{name: w1}, {name: w2}], calls: [{pool: ro}, {pool: rw, writes: 50%}]}
  - {name: ro, database: {}, backends: [{name: ro-1}]}
  - {name: rw, database: {promotion: 5s}, backends: [{name: rw-1}]}`,
		want: []spof{
			{SPOFNode, "ro-1", "ro", "the only backend of database pool ro; web calls ro"},
			{SPOFPrimary, "rw-1", "rw", "takes every write and it has no replica, and the reads need it too; web calls rw"},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := SinglePointsOfFailure(parseSUT(t, tc.sut))
			if got == nil || len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Kind != w.kind || g.Name != w.name || g.Pool != w.pool || !strings.Contains(g.Why, w.why) {
					t.Errorf("%d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
	if got := SinglePointsOfFailure(&scenario.Scenario{Target: &scenario.Target{URL: "http://127.0.0.1:1"}}); got != nil {
		t.Errorf("an external target: %+v, want none (nil)", got)
	}
}

// Both figures of the topology are judged exactly, and a result without
// them fails the requirement with why.
func TestEvaluateTopologyFigures(t *testing.T) {
	withTwo := &Result{
		SinglePointsOfFailure: []SinglePoint{{Kind: SPOFProxy, Name: ProxyPool}, {Kind: SPOFNode, Name: "a1", Pool: "app"}},
		Projection:            &Projection{Service: projected(0.9995)},
		Workloads:             []WorkloadResult{{Name: "browse"}},
	}
	none := &Result{SinglePointsOfFailure: []SinglePoint{}}
	external := &Result{}
	req := func(text string) scenario.Requirement {
		r, err := scenario.ParseRequirement(text)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cases := []struct {
		res      *Result
		req      string
		status   string
		observed float64
		note     string
	}{
		{withTwo, "single_points_of_failure == 0", VerdictFail, 2, ""},
		{withTwo, "single_points_of_failure <= 2", VerdictPass, 2, ""},
		{none, "single_points_of_failure == 0", VerdictPass, 0, ""},
		{withTwo, "projected_availability >= 99.95%", VerdictPass, 0.9995, ""},
		{withTwo, "projected_availability >= 99.99%", VerdictFail, 0.9995, ""},
		{external, "single_points_of_failure == 0", VerdictFail, 0, "no topology: single points of failure are read from the built-in sut, and this result has none"},
		{none, "projected_availability >= 99%", VerdictFail, 0, "no availability projection: no node declared mtbf with a time to repair (mttr:, or a fault of the run that took a node down)"},
		{withTwo, "single_points_of_failure == 0 for browse", VerdictFail, 0, "single_points_of_failure is a figure of the whole system, not of a workload or request"},
	}
	for _, c := range cases {
		v := EvaluateRequirement(c.res, req(c.req))
		if v.Status != c.status || v.Observed != c.observed || v.Note != c.note || v.Why != "" {
			t.Errorf("%s: %+v, want %s observed %v note %q", c.req, v, c.status, c.observed, c.note)
		}
	}
}

// result.json has an empty list when the SUT has no single point of
// failure, and none at all for an external target.
func TestSinglePointsOfFailureInJSON(t *testing.T) {
	for _, c := range []struct {
		spofs []SinglePoint
		want  string
	}{
		{[]SinglePoint{}, `"single_points_of_failure": []`},
		{[]SinglePoint{{Kind: SPOFProxy, Name: ProxyPool, Why: "w"}}, `"single_points_of_failure": [`},
		{nil, ""},
	} {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, &Result{SchemaVersion: SchemaVersion, SinglePointsOfFailure: c.spofs}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(buf.String(), "single_points_of_failure"); got != (c.want != "") || !strings.Contains(buf.String(), c.want) {
			t.Errorf("%v: %s", c.spofs, buf.String())
		}
		back, err := ReadJSON(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if (back.SinglePointsOfFailure == nil) != (c.spofs == nil) || len(back.SinglePointsOfFailure) != len(c.spofs) {
			t.Errorf("%v read back as %v", c.spofs, back.SinglePointsOfFailure)
		}
	}
}

// Segments of one run share its topology: the merge keeps its figures and
// judges their requirements again.
func TestMergeKeepsTheTopologyFigures(t *testing.T) {
	var parts []*Result
	for _, segment := range []string{"1/2", "2/2"} {
		p := fixtureResult()
		p.Segment = segment
		p.Requirements = append(p.Requirements, Verdict{Text: "single_points_of_failure == 0"}, Verdict{Text: "projected_availability >= 99.9999%"})
		parts = append(parts, p)
	}
	m, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.SinglePointsOfFailure) != 1 || m.Projection == nil {
		t.Fatalf("merged: single points %+v, projection %+v", m.SinglePointsOfFailure, m.Projection)
	}
	n := len(m.Requirements)
	if spof, proj := m.Requirements[n-2], m.Requirements[n-1]; spof.Status != VerdictFail || spof.Observed != 1 || proj.Status != VerdictPass {
		t.Errorf("merged verdicts: %+v, %+v", spof, proj)
	}
}
