package report

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

// threeTiers is web → app → {cache → db, db}: a routed pool, a plain tier,
// a cache and a database.
func threeTiers() *scenario.SUT {
	return &scenario.SUT{Pools: []scenario.Pool{
		{Name: "web", Calls: []scenario.Call{{Pool: "app"}}},
		{Name: "app", Calls: []scenario.Call{{Pool: "cache"}, {Pool: "db", Times: 2}}},
		{Name: "cache", Cache: &scenario.Cache{HitRatio: 0.8}, Calls: []scenario.Call{{Pool: "db"}}},
		{Name: "db", Database: &scenario.Database{Primary: "db-1", Promotion: scenario.Duration(1e9)}},
	}}
}

// sampleTierCounters are the counters of threeTiers' nodes over a run of
// 1000 requests through the proxy.
var sampleTierCounters = []TierNodeCounters{
	// 1000 requests through the proxy; 2 ms queue + 3 ms service each.
	{Name: "web-1", Pool: "web", Workers: 10, Utilisation: 0.2, Served: 600, QueueSeconds: 0.6, ServiceSeconds: 1.2, CallSeconds: 6,
		Failures: map[string]int64{"db": 3, "web": 1}},
	{Name: "web-2", Pool: "web", Workers: 30, Utilisation: 0.6, Served: 400, QueueSeconds: 1.4, ServiceSeconds: 1.8, CallSeconds: 4,
		Failures: map[string]int64{"cache": 2, "nowhere": 9}},
	// Counted again below the top: not failures of the whole.
	{Name: "app-1", Pool: "app", Workers: 8, Utilisation: 0.5, Served: 1000, ServiceSeconds: 5, CallSeconds: 3,
		Failures: map[string]int64{"db": 3, "cache": 2}},
	{Name: "cache-1", Pool: "cache", Workers: 4, Utilisation: 0.1, Served: 1000, ServiceSeconds: 0.5, CallSeconds: 0.4, Hits: 800, Misses: 200},
	{Name: "db-1", Pool: "db", Workers: 2, Utilisation: 0.3, Served: 1200, QueueSeconds: 1.2, ServiceSeconds: 2.4,
		Reads: 700, Writes: 300, WritesFailed: 5},
	{Name: "db-2", Pool: "db", Workers: 2, Utilisation: 0.1, Served: 1000, ServiceSeconds: 2, Reads: 1000,
		Primary: true, Promotions: 1},
	{Name: "stray-1", Pool: "stray", Served: 50},
}

func TestTiersOf(t *testing.T) {
	cases := []struct {
		name  string
		sut   *scenario.SUT
		nodes []TierNodeCounters
		want  []Tier
	}{
		{
			name: "one tier without calls has no tier figures",
			sut:  &scenario.SUT{Pools: []scenario.Pool{{Name: "app"}}},
			nodes: []TierNodeCounters{
				{Name: "app-1", Pool: "app", Workers: 4, Utilisation: 0.5, Served: 100, QueueSeconds: 1, ServiceSeconds: 1},
			},
			want: nil,
		},
		{
			name:  "visits, residences, shares, utilisation, failures at the top",
			sut:   threeTiers(),
			nodes: sampleTierCounters,
			want: []Tier{
				{Name: "web", Kind: TierKindRouted, Routed: true, Nodes: []string{"web-1", "web-2"}, Served: 1000, Visits: 1,
					QueueMS: 2, ServiceMS: 3, ResidenceMS: 5, CallsMS: 10, LatencyShareMS: 5, Utilisation: 0.5, Failures: 1},
				{Name: "app", Kind: TierKindCalled, Nodes: []string{"app-1"}, Served: 1000, Visits: 1,
					ServiceMS: 5, ResidenceMS: 5, CallsMS: 3, LatencyShareMS: 5, Utilisation: 0.5},
				{Name: "cache", Kind: TierKindCache, Nodes: []string{"cache-1"}, Served: 1000, Visits: 1,
					ServiceMS: 0.5, ResidenceMS: 0.5, CallsMS: 0.4, LatencyShareMS: 0.5, Utilisation: 0.1, Failures: 2,
					Cache: &TierCache{Hits: 800, Misses: 200, HitRatio: 0.8}},
				{Name: "db", Kind: TierKindDatabase, Nodes: []string{"db-1", "db-2"}, Served: 2200, Visits: 2.2,
					QueueMS: 0.545, ServiceMS: 2, ResidenceMS: 2.545, LatencyShareMS: 5.6, Utilisation: 0.2, Failures: 3,
					Database: &TierDatabase{Reads: 1700, Writes: 300, WritesFailed: 5, Primary: "db-2", Promotions: 1}},
			},
		},
		{
			name: "nothing served: no figure divides by zero",
			sut:  threeTiers(),
			nodes: []TierNodeCounters{
				{Name: "web-1", Pool: "web"},
				{Name: "db-1", Pool: "db", Primary: true},
			},
			want: []Tier{
				{Name: "web", Kind: TierKindRouted, Routed: true, Nodes: []string{"web-1"}},
				{Name: "app", Kind: TierKindCalled, Nodes: []string{}},
				{Name: "cache", Kind: TierKindCache, Nodes: []string{}, Cache: &TierCache{}},
				{Name: "db", Kind: TierKindDatabase, Nodes: []string{"db-1"}, Database: &TierDatabase{Primary: "db-1"}},
			},
		},
		{
			name: "a routed cache is a cache the proxy routes to",
			sut: &scenario.SUT{Pools: []scenario.Pool{
				{Name: "edge", Cache: &scenario.Cache{HitRatio: 0.5}, Calls: []scenario.Call{{Pool: "origin"}}},
				{Name: "origin"},
			}},
			nodes: []TierNodeCounters{
				{Name: "edge-1", Pool: "edge", Served: 10, Hits: 4, Misses: 6, Failures: map[string]int64{"origin": 1}},
				{Name: "origin-1", Pool: "origin", Served: 6},
			},
			want: []Tier{
				{Name: "edge", Kind: TierKindCache, Routed: true, Nodes: []string{"edge-1"}, Served: 10, Visits: 1,
					Cache: &TierCache{Hits: 4, Misses: 6, HitRatio: 0.4}},
				{Name: "origin", Kind: TierKindCalled, Nodes: []string{"origin-1"}, Served: 6, Visits: 0.6, Failures: 1},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := TiersOf(tc.sut, tc.nodes)
			if !reflect.DeepEqual(got, tc.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tc.want, "", " ")
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// The latency shares add up to the mean response time of the network of
// queues: Σ visits × residence.
func TestTierSharesAddUpToTheStationsTime(t *testing.T) {
	nodes := []TierNodeCounters{
		{Name: "web-1", Pool: "web", Served: 300, QueueSeconds: 0.1, ServiceSeconds: 0.9},
		{Name: "app-1", Pool: "app", Served: 300, QueueSeconds: 0.3, ServiceSeconds: 1.5},
		{Name: "cache-1", Pool: "cache", Served: 300, ServiceSeconds: 0.3},
		{Name: "db-1", Pool: "db", Served: 700, QueueSeconds: 0.7, ServiceSeconds: 2.1},
	}
	var sum, total float64
	for _, tier := range TiersOf(threeTiers(), nodes) {
		sum += tier.LatencyShareMS
	}
	for _, n := range nodes {
		total += n.QueueSeconds + n.ServiceSeconds
	}
	if want := 1000 * total / 300; sum < want-0.01 || sum > want+0.01 {
		t.Errorf("shares add up to %.3f ms, want %.3f ms", sum, want)
	}
}

func TestResultTiersAreOmittedWhenThereAreNone(t *testing.T) {
	b, err := json.Marshal(&Result{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"tiers"`) {
		t.Errorf("a result without tiers has a tiers field: %s", b)
	}
	b, err = json.Marshal(&Result{Tiers: TiersOf(threeTiers(), nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"tiers":[{"name":"web","kind":"routed","routed":true,"nodes":[]`) {
		t.Errorf("tiers not in the result: %s", b)
	}
}

func TestTierTablesGolden(t *testing.T) {
	res := fixtureResult()
	res.Tiers = TiersOf(threeTiers(), sampleTierCounters)
	cases := []struct {
		golden string
		write  Renderer
		want   []string
	}{
		{"text_tiers.golden", WriteText, []string{
			"tier   kind      served  visits",
			"db     database    2200    2.20",
			"the tiers' shares add up to 16.1ms of the mean latency 7.83ms",
			"cache: 800 hits, 200 misses (hit ratio 80.0%)",
			"db: 1700 reads, 300 writes (5 failed); primary db-2 after 1 promotion",
		}},
		{"summary_tiers.golden.md", WriteMarkdown, []string{
			"| tier | kind | served | visits | residence | latency share | utilisation | failures |",
			"| db | database | 2200 | 2.20 | 2.54ms | 5.60ms | 20.0% | 3 |",
			"db: 1700 reads, 300 writes (5 failed); primary db-2 after 1 promotion.",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) { checkTable(t, tc.golden, tc.write, res, tc.want, "latency share") })
	}
}

// TestAttachTiersJudgesTheProxysBalanceOnItsOwnNodes: the tiers' nodes
// answer no client, so the fairness is the routed nodes' alone; without
// tiers the result is left as it was.
func TestAttachTiersJudgesTheProxysBalanceOnItsOwnNodes(t *testing.T) {
	nodes := func() []Node {
		return []Node{{Name: "web-1", Requests: 500, Weight: 1}, {Name: "web-2", Requests: 500, Weight: 1},
			{Name: "app-1", Weight: 1}, {Name: "db-1", Weight: 1}, {Name: "db-2", Weight: 1}}
	}
	res := &Result{Nodes: nodes(), Fairness: 0.4}
	AttachTiers(res, threeTiers(), sampleTierCounters)
	if len(res.Tiers) != 4 || res.Fairness != 1 {
		t.Fatalf("%d tiers, fairness %v: want 4 and 1 (web-1 and web-2 even)", len(res.Tiers), res.Fairness)
	}
	oneTier := &scenario.SUT{Pools: []scenario.Pool{{Name: "web"}}}
	res = &Result{Nodes: nodes(), Fairness: 0.4}
	if AttachTiers(res, oneTier, sampleTierCounters); res.Tiers != nil || res.Fairness != 0.4 {
		t.Fatalf("one tier: %d tiers, fairness %v: want none and the result's own", len(res.Tiers), res.Fairness)
	}
}
