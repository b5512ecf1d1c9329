package scenario

import (
	"math"
	"testing"
	"time"
)

const threeTiers = `
sut:
  pools:
    - name: web
      backends: [{name: web-1, workers: 8}]
      calls: [{pool: app}]
    - name: app
      strategy: least-connections
      connections: 4
      backends: [{name: app-1}, {name: app-2}]
      calls: [{pool: cache}, {pool: db, times: 2, writes: 10%, probability: 50%}]
    - name: cache
      cache: {hit_ratio: 80%}
      backends: [{name: cache-1}]
      calls: [{pool: db}]
    - name: db
      database: {primary: db-2, promotion: 10s}
      backends: [{name: db-1}, {name: db-2}]
workload: [{rate: 10/s}]
`

func TestTiersParse(t *testing.T) {
	s, err := Parse("t.yaml", []byte(threeTiers))
	if err != nil {
		t.Fatal(err)
	}
	sut := s.SUT
	tiers := sut.Tiers()
	if len(tiers) != 3 || !tiers["app"] || !tiers["cache"] || !tiers["db"] || tiers["web"] {
		t.Fatalf("tiers: %v", tiers)
	}
	if r := sut.Routed(); len(r) != 1 || r[0].Name != "web" || r[0].Match.PathPrefix != "/" {
		t.Fatalf("routed: %+v", r)
	}
	app := sut.PoolByName("app")
	if app.Match != (Match{}) || app.Strategy != "least-connections" || app.Connections != 4 {
		t.Fatalf("app: %+v", app)
	}
	if c := app.Calls[1]; c.Pool != "db" || c.Times != 2 || c.Writes != 0.1 || *c.Probability != 0.5 || c.Timeout.D() != 10*time.Second {
		t.Fatalf("app's call to db: %+v", c)
	}
	if c := app.Calls[0]; c.Times != 1 || *c.Probability != 1 {
		t.Fatalf("defaults of a call: %+v", c)
	}
	if sut.PoolByName("cache").Strategy != DefaultStrategy {
		t.Fatalf("a tier's strategy defaults to %s", DefaultStrategy)
	}
	if db := sut.PoolByName("db"); db.PrimaryName() != "db-2" || db.Database.Promotion.D() != 10*time.Second {
		t.Fatalf("db: %+v", db.Database)
	}
	if n := callsPerRequest(sut, "web"); n != 1+1+1+2 {
		t.Fatalf("calls per request below web: %v, want 5 (app, cache, cache's db, app's two db)", n)
	}
}

func TestTiersValidation(t *testing.T) {
	base := func(pools string) string { return "sut:\n  pools:\n" + pools + "workload: [{rate: 10/s}]\n" }
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error, each with its position
	}{
		{"unknown pool", base(`    - {name: web, backends: [{name: w}], calls: [{pool: ap}]}
    - {name: app, backends: [{name: a}]}
`), []string{`t.yaml:3:57: unknown pool "ap"`}},
		{"self call", base(`    - {name: web, backends: [{name: w}], calls: [{pool: web}]}
`), []string{"calls itself"}},
		{"cycle", base(`    - {name: web, backends: [{name: w}], calls: [{pool: app}]}
    - {name: app, backends: [{name: a}], calls: [{pool: db}]}
    - {name: db, backends: [{name: d}], calls: [{pool: app}]}
`), []string{"form a cycle (app → db → app)"}},
		{"all called", base(`    - {name: a, backends: [{name: a1}], calls: [{pool: b}]}
    - {name: b, backends: [{name: b1}], calls: [{pool: a}]}
`), []string{"the proxy routes to none"}},
		{"match on a tier", base(`    - {name: web, backends: [{name: w}], calls: [{pool: app}]}
    - {name: app, match: {path_prefix: /app/}, backends: [{name: a}]}
`), []string{"is a tier (another pool calls it)"}},
		{"strategy on a routed pool", base(`    - {name: web, strategy: random, connections: 3, backends: [{name: w}]}
`), []string{"strategy: is for a tier", "connections: is for a tier"}},
		{"bad fields", base(`    - {name: web, backends: [{name: w}], calls: [{pool: db, times: -1, probability: 0%, writes: 10%}, {pool: app, writes: 5%}]}
    - {name: app, strategy: nope, backends: [{name: a}]}
    - {name: db, database: {primary: db-9, promotion: 1s}, cache: {hit_ratio: 50%}, backends: [{name: d}]}
`), []string{"times must be at least 1", "probability must be more than 0%", `pool "app" has no database:`,
			`unknown strategy "nope"`, `unknown backend of pool db "db-9"`, "a database or a cache, not both"}},
		{"too many calls", base(`    - {name: web, backends: [{name: w}], calls: [{pool: app, times: 40}]}
    - {name: app, backends: [{name: a}], calls: [{pool: db, times: 40}]}
    - {name: db, backends: [{name: d}]}
`), []string{"expected at most 1000 calls per request in the tiers below pool \"web\""}},
	} {
		t.Run(tc.name, func(t *testing.T) { refuses(t, "t.yaml", tc.yaml, tc.want) })
	}
}

func TestExpectedCalls(t *testing.T) {
	quarter := Percent(0.25)
	s := &SUT{Pools: []Pool{
		{Name: "web", Calls: []Call{{Pool: "app", Times: 1}}},
		{Name: "app", Calls: []Call{{Pool: "cache", Times: 2}, {Pool: "db", Times: 2, Probability: &quarter}}},
		{Name: "cache", Cache: &Cache{HitRatio: 0.75}, Calls: []Call{{Pool: "db", Times: 1}}},
		{Name: "db"},
	}}
	// db: 2 × 25% from app + 2 caches × 25% misses = 1; app: 2 caches + that.
	for pool, want := range map[string]float64{"db": 0, "cache": 0.25, "app": 2*(1+0.25) + 0.5, "web": 1 + 3} {
		if got := s.ExpectedCalls(pool); math.Abs(got-want) > 1e-12 {
			t.Errorf("ExpectedCalls(%s) = %g, want %g", pool, got, want)
		}
	}
}
