package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

// sitesResult is the fixture with two sites behind DNS, eu lost at 20s.
func sitesResult() *Result {
	res := fixtureResult()
	lost, failover := int64(2308), 36.09
	res.Faults = []Fault{{Kind: "site-down", Site: "eu", AtS: 20, PlannedAtS: 20, ForS: 30, EndS: 50,
		DetectionTimeS: 6.21, DetectedBy: "dns: active check: 2 failed (connection refused)", RecoveryTimeS: 35,
		RequestsLost: &lost, FailoverTimeS: &failover}}
	res.Sites = []Site{
		{Name: "eu", Requests: 14000, Succeeded: 11692, Failed: 2308, Share: 0.2917, Availability: 0.8351, Utilisation: 0.31,
			Regions: map[string]int64{"europe": 14000}, Nodes: []string{"eu-1", "eu-2"}},
		{Name: "us", Requests: 34000, Succeeded: 34000, Share: 0.7083, Availability: 1, Utilisation: 0.62,
			Regions: map[string]int64{"america": 19200, "europe": 14800}, Nodes: []string{"us-1", "us-2"}},
	}
	res.DNS = &DNS{Policy: "nearest", TTLS: 30, Clients: 1000, CheckIntervalS: 5, Resolutions: 3341}
	return res
}

func TestSiteTablesGolden(t *testing.T) {
	cases := []struct {
		golden string
		write  Renderer
		want   []string
	}{
		{"text_sites.golden", WriteText, []string{
			"site  requests  share  availability  utilisation  by region",
			"us       34000  70.8%       100.00%        62.0%  america 19200, europe 14800",
			"DNS: nearest, TTL 30.0s, 1000 clients, each site checked every 5.00s: 3341 resolutions",
			"site-down  eu    20.0s  30.0s           6.21s            35.0s",
			"site-down eu at 20.0s: 2308 requests lost; failed over after 36.1s (DNS detection 6.21s + TTL",
		}},
		{"summary_sites.golden.md", WriteMarkdown, []string{
			"| site | requests | share | availability | utilisation | by region |",
			"| eu | 14000 | 29.2% | 83.51% | 31.0% | europe 14000 |",
			"| site-down | eu | 20.0s | 30.0s | 6.21s | 35.0s |",
			"Site-down eu at 20.0s: 2308 requests lost; failed over after 36.1s (DNS detection 6.21s + TTL 30.0s = 36.2s).",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) { checkTable(t, tc.golden, tc.write, sitesResult(), tc.want, "by region") })
	}
}

// checkTable renders res with write, checks that it holds want and
// matches golden, and that the fixture's result without the table has
// nothing of its header's (absent).
func checkTable(t *testing.T, golden string, write Renderer, res *Result, want []string, absent string) {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("missing %q", w)
		}
	}
	checkGolden(t, golden, buf.Bytes())
	buf.Reset()
	if err := write(&buf, fixtureResult()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), absent) {
		t.Errorf("a result without the table shows %q", absent)
	}
}

// Each site's proxy balances its own nodes: the fairness over sites is the
// lowest of theirs, however unevenly the DNS shares the sites.
func TestSitesFairnessIsEachSiteProxysTheLowest(t *testing.T) {
	nodes := []Node{{Name: "eu-1", Requests: 100}, {Name: "eu-2", Requests: 100},
		{Name: "us-1", Requests: 900}, {Name: "us-2", Requests: 300}, {Name: "db-1", Requests: 5}}
	site := map[string]string{"eu-1": "eu", "eu-2": "eu", "us-1": "us", "us-2": "us"}
	// eu even (1); us 3:1: (1/4 + 3/4)² / (2 × (1/16 + 9/16)) = 0.8.
	if got := SitesFairness(nodes, site); got < 0.7999 || got > 0.8001 {
		t.Fatalf("fairness %.4f, want us's 0.8", got)
	}
	if nodes[0].Share != 0 {
		t.Error("the nodes' shares were changed")
	}
}

// failover_time is the longest failover of the site-down faults, a fault
// that did not fail over failing it; requests_lost adds their losses up.
func TestFailoverAndLostRequirements(t *testing.T) {
	res := sitesResult()
	never, lost := -1.0, int64(100)
	res.Faults = append(res.Faults, Fault{Kind: "site-down", Site: "us", AtS: 70, PlannedAtS: 70, DetectionTimeS: 5, RecoveryTimeS: -1,
		RequestsLost: &lost, FailoverTimeS: &never}, Fault{Kind: "crash", Node: "us-1", AtS: 80, PlannedAtS: 80, DetectionTimeS: 1})
	for _, tc := range []struct {
		text   string
		faults []Fault
		status string
		note   string
		value  float64
	}{
		{"failover_time <= 40s", res.Faults[:1], VerdictPass, "", 36090},
		{"failover_time <= 30s", res.Faults[:1], VerdictFail, "", 36090},
		{"failover_time <= 40s", res.Faults, VerdictFail, "did not fail over within the run: site-down us at 70.0s", 0},
		{"requests_lost < 3000", res.Faults, VerdictPass, "", 2408},
		{"requests_lost == 0", res.Faults[2:], VerdictFail, "no samples: no site-down fault was applied", 0},
	} {
		r := *res
		r.Faults = tc.faults
		req, err := scenario.ParseRequirement(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		Evaluate(&r, []scenario.Requirement{req})
		v := r.Requirements[0]
		if v.Status != tc.status || !strings.Contains(v.Note, tc.note) || tc.note == "" && v.Observed != tc.value {
			t.Errorf("%s over %d faults: %s, observed %v, note %q; want %s, %v, %q", tc.text, len(tc.faults), v.Status, v.Observed, v.Note, tc.status, tc.value, tc.note)
		}
	}
}
