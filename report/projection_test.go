package report

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

// parseSUT parses a scenario of the built-in SUT whose sut: is text.
func parseSUT(t *testing.T, text string) *scenario.Scenario {
	t.Helper()
	indented := "  " + strings.ReplaceAll(strings.TrimSpace(text), "\n", "\n  ")
	sc, err := scenario.Parse("t.yaml", []byte("duration: 1s\nworkload: [{rate: 1/s}]\nsut:\n"+indented+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// The projection of tiered SUTs against the arithmetic done by hand. Every
// node declares its MTTR, so no fault is needed: A = MTBF / (MTBF + MTTR).
func TestProjectTiers(t *testing.T) {
	const (
		a = 1000.0 / 1001 // mtbf: 1000h, mttr: 1h
		b = 100.0 / 101   // mtbf: 100h, mttr: 1h
		c = 10.0 / 11     // mtbf: 10h, mttr: 1h
	)
	role := 3600.0 * 1000 / (3600*1000 + 30) // a 30 s promotion against a 1000 h MTBF
	// webToDB is web calling db, a primary p (of mtbf primaryMTBF) and a
	// replica r, as call and database say.
	webToDB := func(call, database, primaryMTBF string) string {
		return fmt.Sprintf(`
pools:
  - {name: web, backends: [{name: w1}], calls: [{pool: db, %s}]}
  - name: db
    database: {primary: p%s}
    backends: [{name: p, mtbf: %s, mttr: 1h}, {name: r, mtbf: 10h, mttr: 1h}]`, call, database, primaryMTBF)
	}
	cases := []struct {
		name    string
		sut     string
		service float64
		routes  map[string]float64    // nil: web's, the service's
		pools   map[string][2]float64 // reads (or up), writes (0: none)
	}{{
		name: "series: a request needs each tier it passes",
		sut: `
pools:
  - {name: web, backends: [{name: w1, mtbf: 1000h, mttr: 1h}], calls: [{pool: app}]}
  - {name: app, backends: [{name: a1, mtbf: 100h, mttr: 1h}]}`,
		service: a * b,
		pools:   map[string][2]float64{"web": {a, 0}, "app": {b, 0}},
	}, {
		name: "one of two up, then two of three up",
		sut: `
pools:
  - {name: web, backends: [{name: w1, mtbf: 1000h, mttr: 1h}, {name: w2, mtbf: 100h, mttr: 1h}], calls: [{pool: app}]}
  - name: app
    needs: 2
    backends: [{name: a1, mtbf: 10h, mttr: 1h}, {name: a2, mtbf: 10h, mttr: 1h}, {name: a3, mtbf: 10h, mttr: 1h}]`,
		service: (1 - (1-a)*(1-b)) * (c*c*c + 3*c*c*(1-c)),
		pools:   map[string][2]float64{"web": {1 - (1-a)*(1-b), 0}, "app": {c*c*c + 3*c*c*(1-c), 0}},
	}, {
		// Writes (20%) need the primary; reads any node.
		name:    "a database without promotion: a write fails while the primary is down",
		sut:     webToDB("writes: 20%", "", "100h"),
		service: b + (1-b)*c*0.8,
		pools:   map[string][2]float64{"db": {1 - (1-b)*(1-c), b}},
	}, {
		// The primary's failure costs the promotion, not its repair;
		// everything fails while both nodes are down.
		name:    "a database with promotion: a write fails during a promotion only",
		sut:     webToDB("writes: 20%", ", promotion: 30s", "1000h"),
		service: (1 - (1-a)*(1-c)) * (role + 0.8*(1-role)),
		pools:   map[string][2]float64{"db": {1 - (1-a)*(1-c), role * (1 - (1-a)*(1-c))}},
	}, {
		// Both calls meet the same state of the database: with the
		// primary down both succeed only when both read (0.8²).
		name:    "two calls to one database share its state",
		sut:     webToDB("times: 2, writes: 20%", "", "100h"),
		service: b + (1-b)*c*0.64,
		pools:   map[string][2]float64{"db": {1 - (1-b)*(1-c), b}},
	}, {
		name: "a tier reached by 30% of the requests",
		sut: `
pools:
  - {name: web, backends: [{name: w1, mtbf: 1000h, mttr: 1h}], calls: [{pool: search, probability: 30%}]}
  - {name: search, backends: [{name: s1, mtbf: 10h, mttr: 1h}]}`,
		service: a * (0.7 + 0.3*c),
		pools:   map[string][2]float64{"web": {a, 0}, "search": {c, 0}},
	}, {
		name: "a cache calls the database on a miss only",
		sut: `
pools:
  - {name: web, backends: [{name: w1}], calls: [{pool: cache}]}
  - {name: cache, cache: {hit_ratio: 80%}, backends: [{name: c1, mtbf: 100h, mttr: 1h}], calls: [{pool: db}]}
  - {name: db, backends: [{name: d1, mtbf: 10h, mttr: 1h}]}`,
		service: b * (0.8 + 0.2*c),
		pools:   map[string][2]float64{"cache": {b, 0}, "db": {c, 0}},
	}, {
		// The service needs db once, however many routes reach it.
		name: "two routes share a tier",
		sut: `
pools:
  - {name: web, match: {path_prefix: /}, backends: [{name: w1, mtbf: 1000h, mttr: 1h}], calls: [{pool: db}]}
  - {name: api, match: {path_prefix: /api}, backends: [{name: i1, mtbf: 100h, mttr: 1h}], calls: [{pool: db}]}
  - {name: db, backends: [{name: d1, mtbf: 10h, mttr: 1h}]}`,
		service: a * b * c,
		routes:  map[string]float64{"web": a * c, "api": b * c},
		pools:   map[string][2]float64{"web": {a, 0}, "api": {b, 0}, "db": {c, 0}},
	}, {
		name: "the proxy's replicas are a tier of their own",
		sut: `
proxy: {replicas: 2, mtbf: 10h, mttr: 1h}
pools:
  - {name: web, backends: [{name: w1, mtbf: 1000h, mttr: 1h}]}`,
		service: (1 - (1-c)*(1-c)) * a,
		routes:  map[string]float64{"web": a},
		pools:   map[string][2]float64{"proxy": {1 - (1-c)*(1-c), 0}, "web": {a, 0}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Project(parseSUT(t, tc.sut), nil, 0)
			if p == nil {
				t.Fatal("no projection")
			}
			near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-12 }
			if !near(p.Service.Availability, tc.service) || p.Approximate {
				t.Errorf("service %v, want %v (approximate %v)", p.Service.Availability, tc.service, p.Approximate)
			}
			if tc.routes == nil {
				tc.routes = map[string]float64{"web": tc.service}
			}
			if len(p.Routes) != len(tc.routes) {
				t.Errorf("routes %+v, want %v", p.Routes, tc.routes)
			}
			for _, r := range p.Routes {
				if !near(r.Availability, tc.routes[r.Pool]) {
					t.Errorf("route %s: %v, want %v", r.Pool, r.Availability, tc.routes[r.Pool])
				}
			}
			if len(p.Pools) != len(tc.pools) {
				t.Errorf("pools %+v, want %v", p.Pools, tc.pools)
			}
			for _, pl := range p.Pools {
				want := tc.pools[pl.Name]
				if !near(pl.Availability, want[0]) {
					t.Errorf("pool %s: %v, want %v", pl.Name, pl.Availability, want[0])
				}
				if (pl.Writes != nil) != (want[1] != 0) || pl.Writes != nil && !near(pl.Writes.Availability, want[1]) {
					t.Errorf("pool %s: writes %+v, want %v", pl.Name, pl.Writes, want[1])
				}
			}
		})
	}
}

// The kinds and redundancy of each pool of a three-tier SUT, and the
// projection of the whole against the same sum taken by brute force over
// every node's state.
func TestProjectThreeTiersAgainstEveryState(t *testing.T) {
	sc := parseSUT(t, `
proxy: {replicas: 2, mtbf: 2000h, mttr: 10m}
pools:
  - {name: web, backends: [{name: w1, mtbf: 500h, mttr: 1h}, {name: w2, mtbf: 500h, mttr: 1h}], calls: [{pool: app}]}
  - {name: app, needs: 2, backends: [{name: a1, mtbf: 50h, mttr: 2h}, {name: a2, mtbf: 50h, mttr: 2h}, {name: a3, mtbf: 80h, mttr: 1h}],
     calls: [{pool: cache}, {pool: db, times: 2, writes: 25%, probability: 60%}]}
  - {name: cache, cache: {hit_ratio: 90%}, backends: [{name: c1, mtbf: 300h, mttr: 30m}], calls: [{pool: db}]}
  - {name: db, database: {primary: d1}, backends: [{name: d1, mtbf: 200h, mttr: 3h}, {name: d2, mtbf: 20h, mttr: 1h}]}`)
	p := Project(sc, nil, 0)
	kinds := map[string]string{}
	for _, pl := range p.Pools {
		kinds[pl.Name] = pl.Kind + " " + string(rune('0'+pl.Needs)) + "/" + string(rune('0'+pl.Nodes))
	}
	want := map[string]string{"proxy": "proxy 1/2", "web": "routed 1/2", "app": "tier 2/3", "cache": "cache 1/1", "db": "database 1/2"}
	for name, k := range want {
		if kinds[name] != k {
			t.Errorf("pool %s: %q, want %q", name, kinds[name], k)
		}
	}
	// By brute force: every up/down state of the ten nodes, each request's
	// chance to succeed in that state.
	names := []string{"proxy-1", "proxy-2", "w1", "w2", "a1", "a2", "a3", "c1", "d1", "d2"}
	avail := map[string]float64{}
	for _, n := range p.Nodes {
		avail[n.Name] = n.Availability
	}
	var sum float64
	for state := 0; state < 1<<len(names); state++ {
		up := map[string]bool{}
		weight := 1.0
		for i, n := range names {
			up[n] = state&(1<<i) != 0
			if up[n] {
				weight *= avail[n]
			} else {
				weight *= 1 - avail[n]
			}
		}
		count := func(ns ...string) int {
			k := 0
			for _, n := range ns {
				if up[n] {
					k++
				}
			}
			return k
		}
		if count("proxy-1", "proxy-2") < 1 || count("w1", "w2") < 1 || count("a1", "a2", "a3") < 2 {
			continue
		}
		// One call of app's to db: a write (25%) needs d1, a read any
		// node; the cache's, on a miss, reads.
		db, read := 0.0, 0.0
		if up["d1"] {
			db, read = 1, 1
		} else if up["d2"] {
			db, read = 0.75, 1
		}
		cache := 0.0
		if up["c1"] {
			cache = 0.9 + 0.1*read
		}
		sum += weight * cache * (0.4 + 0.6*db*db)
	}
	if math.Abs(p.Service.Availability-sum) > 1e-12 {
		t.Errorf("service %.15f, by every state %.15f", p.Service.Availability, sum)
	}
}

func TestAtLeast(t *testing.T) {
	cases := []struct {
		k    int
		ps   []float64
		want float64
	}{
		{0, nil, 1},
		{1, []float64{0.9}, 0.9},
		{1, []float64{0.9, 0.8}, 1 - 0.1*0.2},
		{2, []float64{0.9, 0.8}, 0.72},
		{2, []float64{0.9, 0.8, 0.7}, 0.9*0.8*0.7 + 0.1*0.8*0.7 + 0.9*0.2*0.7 + 0.9*0.8*0.3},
		{3, []float64{0.5, 0.5}, 0},
	}
	for _, c := range cases {
		if got := atLeast(c.k, c.ps); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("at least %d of %v: %v, want %v", c.k, c.ps, got, c.want)
		}
	}
}

// The worked example of docs/faults.md, figure by figure as the page
// gives them.
func TestProjectTheWorkedExample(t *testing.T) {
	const sut = `
proxy: {replicas: 2, mtbf: 8760h, mttr: 5m}
pools:
  - name: web
    backends: [{name: web-1, mtbf: 720h, mttr: 30m}, {name: web-2, mtbf: 720h, mttr: 30m}]
    calls: [{pool: app}]
  - name: app
    backends: [{name: app-1, mtbf: 720h, mttr: 30m}]
    calls: [{pool: db, writes: 20%}]
  - name: db
    database: {primary: db-1, promotion: 30s}
    backends: [{name: db-1, mtbf: 2000h, mttr: 2h}, {name: db-2, mtbf: 2000h, mttr: 2h}]`
	sc := parseSUT(t, sut)
	p := Project(sc, nil, 0)
	figures := map[string]string{"service": formatFraction(p.Service.Availability), "service downtime": formatSpan(p.Service.DowntimePerYearS)}
	for _, pl := range p.Pools {
		figures[pl.Name] = formatFraction(pl.Availability)
		if pl.Writes != nil {
			figures[pl.Name+" writes"] = formatFraction(pl.Writes.Availability)
		}
	}
	figures["route web"] = formatFraction(p.Routes[0].Availability)
	want := map[string]string{
		"proxy": "99.999999991%", "web": "99.999952%", "app": "99.931%", "db": "99.99990%", "db writes": "99.99948%",
		"route web": "99.930%", "service": "99.930%", "service downtime": "6.10h",
	}
	for name, w := range want {
		if figures[name] != w {
			t.Errorf("%s: %s, the page says %s", name, figures[name], w)
		}
	}
	var spofs []string
	for _, sp := range SinglePointsOfFailure(sc) {
		spofs = append(spofs, sp.Name)
	}
	if len(spofs) != 1 || spofs[0] != "app-1" {
		t.Errorf("single points of failure %v, the page says app-1", spofs)
	}
	sc.SUT.Pools[1].Backends = append(sc.SUT.Pools[1].Backends, scenario.Backend{Name: "app-2", MTBF: sc.SUT.Pools[1].Backends[0].MTBF, MTTR: sc.SUT.Pools[1].Backends[0].MTTR})
	p = Project(sc, nil, 0)
	if got := formatFraction(p.Service.Availability) + " " + formatSpan(p.Service.DowntimePerYearS); got != "99.99972% 88.2s" {
		t.Errorf("with app-2: %s, the page says 99.99972%% 88.2s", got)
	}
}
