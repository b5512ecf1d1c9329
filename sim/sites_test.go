package sim

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

// twoSites is two sites of two backends each behind DNS: europe's clients
// nearest eu, america's nearest us (the round trips given), the DNS's
// policy, TTL, checks and the fault as each case sets them.
func twoSites(dns, fault string, rate, seconds int) string {
	const backends = "[{workers: 8, service_time: {dist: exponential, mean: 2ms}}, {workers: 8, service_time: {dist: exponential, mean: 2ms}}]"
	return fmt.Sprintf(`name: two sites
seed: 5
duration: %[4]ds
sites:
  - {name: eu, sut: {pools: [{backends: %[5]s}]}}
  - {name: us, sut: {pools: [{backends: %[5]s}]}}
regions:
  - {name: europe, share: 60%%, rtt: {eu: 10ms, us: 90ms}}
  - {name: america, share: 40%%, rtt: {eu: 90ms, us: 10ms}}
dns: %[1]s
workload:
  - {arrival: uniform, rate: %[3]d/s, timeout: 2s}
faults: [%[2]s]
`, dns, fault, rate, seconds, backends)
}

// A site lost: the DNS takes it out of its answers at its fall-th failed
// check (within fall intervals of the fault), and the clients that sent it
// requests while it was down are served elsewhere once the answers they
// held expire: the failover time is detection + TTL, less the time between
// the last answer naming the site and the detection, which the clients'
// resolutions (clients ÷ TTL a second) bound. The requests lost are
// exactly those sent to the site from the fault on (it lasts to the end):
// each was refused; those in progress there when it went down were reset.
func TestFailoverIsDetectionPlusTTL(t *testing.T) {
	for _, tc := range []struct {
		name                string
		policy              string
		ttl, interval       time.Duration
		fall, clients, rate int
	}{
		{"nearest, ttl 30s", "nearest", 30 * time.Second, 5 * time.Second, 2, 1000, 500},
		{"nearest, ttl 10s, fall 3", "nearest", 10 * time.Second, 2 * time.Second, 3, 300, 500},
		{"round robin, ttl 20s", "round-robin", 20 * time.Second, time.Second, 2, 1000, 500},
		{"load, ttl 5s", "load", 5 * time.Second, time.Second, 1, 200, 500},
		{"no caching: ttl 0", "nearest", 0, 3 * time.Second, 2, 100, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := fmt.Sprintf("{policy: %s, ttl: %s, clients: %d, health: {interval: %s, fall: %d}}", tc.policy, tc.ttl, tc.clients, tc.interval, tc.fall)
			const at = 20
			res := simulate(t, parse(t, twoSites(dns, fmt.Sprintf("{at: %ds, kind: site-down, site: eu}", at), tc.rate, 80)), DefaultOptions())
			f := res.Faults[0]
			if f.Site != "eu" || f.FailoverTimeS == nil || f.RequestsLost == nil {
				t.Fatalf("fault %+v: want its site, failover time and requests lost", f)
			}
			det := f.DetectionTimeS
			if lo, hi := (time.Duration(tc.fall-1) * tc.interval).Seconds(), (time.Duration(tc.fall) * tc.interval).Seconds(); det < lo || det > hi {
				t.Errorf("detected after %.3fs, want within [%.0fs, %.0fs] (fall %d every %s)", det, lo, hi, tc.fall, tc.interval)
			}
			// Every client resolves once a TTL: the last answer naming eu
			// before the detection came at most a few resolutions' spacing
			// before it.
			slack := 0.001
			if tc.ttl > 0 {
				slack = 5 * tc.ttl.Seconds() / float64(tc.clients)
			}
			fo, want := *f.FailoverTimeS, det+tc.ttl.Seconds()
			if fo > want+0.001 || fo < want-slack {
				t.Errorf("failed over after %.3fs, want detection %.3fs + TTL %s = %.3fs (within %.3fs below)", fo, det, tc.ttl, want, slack)
			}
			var sentWhileDown int64
			for _, w := range res.Windows[at:] {
				sentWhileDown += w.Sites["eu"]
			}
			if lost := *f.RequestsLost; lost != sentWhileDown || lost != res.Errors["refused"] || res.Totals.Failed != lost+res.Errors["reset"] {
				t.Errorf("%d requests lost, %d sent to eu from %ds on, errors %v of %d failed: want the lost the refused, every one sent to eu meanwhile",
					lost, sentWhileDown, at, res.Errors, res.Totals.Failed)
			}
			if *f.RequestsLost == 0 && tc.ttl > 0 {
				t.Error("nothing lost: the clients' answers should have held them on eu")
			}
			// After the failover, nothing goes to eu any more.
			for _, w := range res.Windows[at+int(math.Ceil(fo))+1:] {
				if w.Sites["eu"] > 0 {
					t.Errorf("second %d: %d requests to eu after the failover", w.T, w.Sites["eu"])
					break
				}
			}
		})
	}
}

// A fault lifted before the clients' answers expire leaves the failover
// incomplete (-1), and the requests still sent there once it is back
// succeed.
func TestAShortSiteFaultDoesNotFailOver(t *testing.T) {
	dns := "{ttl: 60s, clients: 500, health: {interval: 1s, fall: 2}}"
	res := simulate(t, parse(t, twoSites(dns, "{at: 10s, for: 10s, kind: site-down, site: eu}", 200, 40)), DefaultOptions())
	f := res.Faults[0]
	if f.FailoverTimeS == nil || *f.FailoverTimeS != -1 {
		t.Fatalf("failover %v, want -1: the TTL outlasts the fault", f.FailoverTimeS)
	}
	var backLater int64
	for _, w := range res.Windows[21:] {
		backLater += w.Sites["eu"]
	}
	if backLater == 0 || res.Sites[0].Failed != *f.RequestsLost+res.Errors["reset"] {
		t.Errorf("eu got %d requests once back, failed %d of which %d lost: want its clients back and failing only while it was down",
			backLater, res.Sites[0].Failed, *f.RequestsLost)
	}
}

// Each policy shares the requests between the sites as it says: nearest
// by the regions' shares (every region to its nearest site), round robin
// evenly, load by the sites' spare capacity.
func TestThePolicyDecidesTheSitesShares(t *testing.T) {
	for _, tc := range []struct {
		policy string
		eu     float64 // share
		check  func(res *report.Result) string
	}{
		{"nearest", 0.6, func(res *report.Result) string {
			if eu := res.Sites[0]; eu.Regions["america"] != 0 || eu.Regions["europe"] != eu.Requests {
				return fmt.Sprintf("eu's requests by region %v: want europe's alone", eu.Regions)
			}
			return ""
		}},
		{"round-robin", 0.5, nil},
		{"load", 0.5, nil}, // equal sites, equally loaded
	} {
		t.Run(tc.policy, func(t *testing.T) {
			dns := fmt.Sprintf("{policy: %s, ttl: 2s, clients: 2000, health: {interval: 1s}}", tc.policy)
			res := simulate(t, parse(t, twoSites(dns, "", 400, 30)), DefaultOptions())
			if len(res.Sites) != 2 || res.DNS == nil || res.DNS.Policy != tc.policy {
				t.Fatalf("sites %+v, dns %+v", res.Sites, res.DNS)
			}
			eu, us := res.Sites[0], res.Sites[1]
			if math.Abs(eu.Share-tc.eu) > 0.02 || math.Abs(eu.Share+us.Share-1) > 1e-9 || eu.Requests+us.Requests != res.Totals.Scheduled {
				t.Errorf("eu's share %.3f of %d, us's %.3f of %d (%d scheduled): want eu %.2f", eu.Share, eu.Requests, us.Share, us.Requests, res.Totals.Scheduled, tc.eu)
			}
			if eu.Utilisation <= 0 || eu.Availability != 1 || res.Fairness < 0.99 {
				t.Errorf("eu %+v, fairness %.3f: want it busy, available, each site's proxy even", eu, res.Fairness)
			}
			if tc.check != nil {
				if msg := tc.check(res); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// Every hop between a client and its site's proxy takes the region's
// one-way time to the site: an answer takes the round trip, besides the
// model's own costs, exactly.
func TestTheRoundTripIsOnThePath(t *testing.T) {
	yaml := `duration: 10s
sites:
  - {name: near, sut: {pools: [{backends: [{workers: 4, service_time: {dist: constant, value: 1ms}}]}]}}
  - {name: far, sut: {pools: [{backends: [{workers: 4, service_time: {dist: constant, value: 1ms}}]}]}}
regions: [{name: here, share: 100%, rtt: {near: 40ms, far: 300ms}}]
dns: {ttl: 5s, clients: 10}
workload: [{arrival: uniform, rate: 10/s}]
`
	opts := DefaultOptions()
	res := simulate(t, parse(t, yaml), opts)
	want := (40*time.Millisecond + time.Millisecond + 4*opts.NetworkDelay + opts.ProxyCost).Seconds() * 1000
	if l := res.LatencyMS; math.Abs(l.Min-want) > want/1000 || math.Abs(l.Max-want) > want/1000 || res.Sites[0].Requests != res.Totals.Scheduled {
		t.Errorf("latency %.3f–%.3fms, near got %d of %d: want every request at near, %.3fms", l.Min, l.Max, res.Sites[0].Requests, res.Totals.Scheduled, want)
	}
}

// A run over sites, with a site lost and back, replays to the same
// result.json for the same seed.
func TestTheSameSeedGivesTheSameResultOverSites(t *testing.T) {
	dns := "{policy: load, ttl: 3s, clients: 100, health: {interval: 500ms, fall: 2}}"
	replays(t, twoSites(dns, "{at: 2s, for: 3s, kind: site-down, site: us}", 300, 8), 3,
		`"sites": `, `"failover_time_s": `, `"requests_lost": `, `"detected_by": "dns: `)
}

// Segments of a run over sites merge into its sites' figures: each site's
// requests and the requests lost add up to the parts', the shares and the
// windows' counts follow.
func TestSegmentsMergeTheSites(t *testing.T) {
	sc := parse(t, twoSites("{ttl: 5s, clients: 300, health: {interval: 1s}}", "{at: 4s, for: 8s, kind: site-down, site: eu}", 300, 15))
	merged, parts := mergedSegments(t, sc, 3)
	var eu, lost, windowEU int64
	for _, p := range parts {
		eu += p.Sites[0].Requests
		lost += *p.Faults[0].RequestsLost
	}
	for _, w := range merged.Windows {
		windowEU += w.Sites["eu"]
	}
	m := merged.Sites[0]
	if m.Requests != eu || windowEU != eu || *merged.Faults[0].RequestsLost != lost || lost == 0 ||
		math.Abs(m.Share-float64(eu)/float64(merged.Totals.Scheduled)) > 1e-9 || merged.DNS == nil || merged.Fairness < 0.9 {
		t.Errorf("merged eu %+v (windows %d), lost %d, dns %+v, fairness %.3f: want the parts' %d requests, %d lost",
			m, windowEU, *merged.Faults[0].RequestsLost, merged.DNS, merged.Fairness, eu, lost)
	}
}
