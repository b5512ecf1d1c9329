package dns_test

import (
	"testing"
	"time"

	"github.com/ilities/ilities/sut/dns"
	"github.com/ilities/ilities/sut/health"
)

var (
	sites = []string{"eu", "us", "ap"}
	// europe is nearest eu; america is as near us as ap.
	rtt = [][]time.Duration{
		{10 * time.Millisecond, 90 * time.Millisecond, 200 * time.Millisecond},
		{90 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond},
	}
	rules = health.Rules{Rise: 2, Fall: 2}
)

// The answers each policy gives a region, the sites' checks and loads as
// set, counted over 1,000 resolutions.
func TestResolveAnswersByPolicyAmongTheSitesUp(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		region       int
		down         []int     // sites whose checks fail (twice: fall)
		loads        []float64 // each site's reported load
		want         [3]int    // answers per site
	}{
		{name: "nearest", policy: dns.Nearest, region: 0, want: [3]int{1000, 0, 0}},
		{name: "nearest ties in turn", policy: dns.Nearest, region: 1, want: [3]int{0, 500, 500}},
		{name: "nearest up", policy: dns.Nearest, region: 0, down: []int{0}, want: [3]int{0, 1000, 0}},
		{name: "round robin", policy: dns.RoundRobin, region: 0, want: [3]int{334, 333, 333}},
		{name: "round robin up", policy: dns.RoundRobin, region: 1, down: []int{1}, want: [3]int{500, 0, 500}},
		{name: "load by spare capacity", policy: dns.Load, loads: []float64{0.5, 0.75, 0}, want: [3]int{286, 143, 571}},
		{name: "load, a full site a thousandth", policy: dns.Load, loads: []float64{1, 0, 0}, want: [3]int{1, 500, 499}},
		{name: "no site up: every site", policy: dns.Nearest, region: 1, down: []int{0, 1, 2}, want: [3]int{0, 500, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := dns.New(tc.policy, sites, rtt, rules)
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range tc.down {
				b.Check(i, false, "refused", time.Time{})
				b.Check(i, false, "refused", time.Time{})
			}
			for i, l := range tc.loads {
				b.Report(i, l)
			}
			var got [3]int
			for range 1000 {
				got[b.Resolve(tc.region)]++
			}
			if got != tc.want {
				t.Fatalf("answers %v, want %v", got, tc.want)
			}
		})
	}
}

// A site leaves the answers at its fall-th failed check in a row and comes
// back at its rise-th passed one, each a change once.
func TestChecksTakeASiteOutAtFallAndBackAtRise(t *testing.T) {
	b, err := dns.New(dns.Nearest, sites, rtt, health.Rules{Rise: 3, Fall: 2})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		passed  bool
		changed bool
		up      bool
	}{
		{true, false, true}, {false, false, true}, {true, false, true}, {false, false, true},
		{false, true, false}, {false, false, false}, {true, false, false}, {true, false, false}, {true, true, true},
	}
	for i, st := range steps {
		c, changed := b.Check(0, st.passed, "refused", time.Time{})
		if changed != st.changed || b.Up(0) != st.up || changed && c.Available != st.up {
			t.Fatalf("check %d (passed %v): changed %v up %v, want changed %v up %v", i+1, st.passed, changed, b.Up(0), st.changed, st.up)
		}
	}
}

func TestNewRefusesWhatItCannotBalance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		sites  []string
		rtt    [][]time.Duration
	}{
		{"unknown policy", "closest", sites, rtt},
		{"no site", dns.Nearest, nil, nil},
		{"a region short of a site", dns.Nearest, sites, [][]time.Duration{{1, 2}}},
	} {
		if _, err := dns.New(tc.policy, tc.sites, tc.rtt, rules); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
