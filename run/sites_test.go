package run

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// twoSites is two sites of one backend each behind DNS, live: europe's
// clients 20 ms from eu, america's 20 ms from us (60 ms to the other), the
// DNS's policy, TTL and checks and the faults as each case sets them.
func twoSites(t *testing.T, dns, faults string, seconds int) *scenario.Scenario {
	t.Helper()
	const backend = "{workers: 8, service_time: {dist: exponential, mean: 2ms}}"
	sc, err := scenario.Parse("sites.yaml", []byte(fmt.Sprintf(`name: two sites
seed: 5
duration: %[3]ds
sites:
  - {name: eu, sut: {pools: [{backends: [%[4]s]}]}}
  - {name: us, sut: {pools: [{backends: [%[4]s]}]}}
regions:
  - {name: europe, share: 60%%, rtt: {eu: 20ms, us: 60ms}}
  - {name: america, share: 40%%, rtt: {eu: 60ms, us: 20ms}}
dns: %[1]s
workload:
  - {arrival: uniform, rate: 100/s, timeout: 1s}
faults: [%[2]s]
`, dns, faults, seconds, backend)))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// A site lost, live: the DNS's checks take it out of the answers at the
// fall-th failed one, and the clients that sent it requests meanwhile are
// served elsewhere once the answers they held expire: the failover time is
// detection + TTL, less the spacing of the last resolutions naming the
// site before the detection. Every request sent to the site from the
// fault on is lost, and none goes there after the failover.
func TestSitesFailOverLive(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a 6 s run")
	}
	const (
		at       = 2
		ttl      = 2 * time.Second
		interval = 500 * time.Millisecond
		fall     = 2
	)
	sc := twoSites(t, fmt.Sprintf("{policy: nearest, ttl: %s, clients: 100, health: {interval: %s, fall: %d}}", ttl, interval, fall),
		fmt.Sprintf("{at: %ds, kind: site-down, site: eu}", at), 6)
	meter := hiccup.Start()
	res, err := Execute(context.Background(), sc, Options{})
	host := meter.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Faults) != 1 || len(res.Sites) != 2 || res.DNS == nil {
		t.Fatalf("faults %+v, sites %+v, dns %+v: want one fault, two sites and the DNS", res.Faults, res.Sites, res.DNS)
	}
	f := res.Faults[0]
	if f.Site != "eu" || f.FailoverTimeS == nil || f.RequestsLost == nil {
		t.Fatalf("fault %+v: want its site, failover time and requests lost", f)
	}
	// A check wakes as late as this host makes a wake-up; the balancer
	// decides at once (a refused connection).
	late := host.Allow(5 * time.Millisecond).Seconds()
	det := f.DetectionTimeS
	if lo, hi := (fall-1)*interval.Seconds()-0.001, fall*interval.Seconds()+late; det < lo || det > hi {
		t.Errorf("detected after %.3fs, want within [%.3fs, %.3fs] (fall %d every %s; %v)", det, lo, hi, fall, interval, host)
	}
	// 60 europe clients, each resolving at its first request after its
	// answer expired (about one a second each): the last answers naming
	// eu come well within half a second of the detection.
	fo, want := *f.FailoverTimeS, det+ttl.Seconds()
	if fo > want+0.002 || fo < want-0.5 {
		t.Errorf("failed over after %.3fs, want detection %.3fs + TTL %s = %.3fs (within 0.5s below)", fo, det, ttl, want)
	}
	eu := res.Sites[0]
	var sentAfter int64 // from the first whole second the site was down
	for _, w := range res.Windows[at+1:] {
		sentAfter += w.Sites["eu"]
	}
	// Requests in flight at eu when it went down are reset there, not lost
	// (they were sent before): at 100/s and some 25 ms each, a few.
	if lost := *f.RequestsLost; lost < sentAfter || lost > eu.Failed || eu.Failed-lost > 10 || lost == 0 {
		t.Errorf("%d requests lost, %d sent to eu from %ds on, eu failed %d (%v): want every one sent there while down",
			lost, sentAfter, at+1, eu.Failed, res.Errors)
	}
	for _, w := range res.Windows[at+int(math.Ceil(fo))+1:] {
		if w.Sites["eu"] > 0 {
			t.Errorf("second %d: %d requests to eu after the failover", w.T, w.Sites["eu"])
			break
		}
	}
	if len(res.DNS.Events) == 0 || res.DNS.Events[0].Up || res.DNS.Resolutions == 0 {
		t.Errorf("dns %+v: want eu taken out and resolutions counted", res.DNS)
	}
	t.Logf("detection %.3fs, failover %.3fs, lost %d, sites %+v; %v", det, fo, *f.RequestsLost, res.Sites, host)
}

// Each policy shares the requests between the sites as it says, live:
// nearest by the regions' shares (each region to its nearest site),
// round robin evenly. The round trip to the site counts in the latency
// from the intended time, not in the send lag.
func TestSitesSharesByPolicyLive(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: 3 s runs")
	}
	for _, tc := range []struct {
		policy string
		eu     float64
		check  func(res *report.Result) string
	}{
		{"nearest", 0.6, func(res *report.Result) string {
			if eu := res.Sites[0]; eu.Regions["america"] != 0 || eu.Regions["europe"] != eu.Requests {
				return fmt.Sprintf("eu's requests by region %v: want europe's alone", eu.Regions)
			}
			return ""
		}},
		{"round-robin", 0.5, func(res *report.Result) string {
			if eu := res.Sites[0]; eu.Regions["america"] == 0 || eu.Regions["europe"] == 0 {
				return fmt.Sprintf("eu's requests by region %v: want both regions'", eu.Regions)
			}
			return ""
		}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			sc := twoSites(t, fmt.Sprintf("{policy: %s, ttl: 1s, clients: 100, health: {interval: 1s}}", tc.policy), "", 3)
			res, err := Execute(context.Background(), sc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			eu, us := res.Sites[0], res.Sites[1]
			// 300 requests: a share drawn by the clients' answers is within
			// ±0.1 of its mean but once in a few hundred runs.
			if math.Abs(eu.Share-tc.eu) > 0.1 || eu.Requests+us.Requests != res.Totals.Succeeded+res.Totals.Failed {
				t.Errorf("eu's share %.3f (%d of %d + %d), want %.2f ± 0.1, every request sent at a site", eu.Share, eu.Requests, eu.Requests, us.Requests, tc.eu)
			}
			if why := tc.check(res); why != "" {
				t.Error(why)
			}
			if eu.Availability != 1 || us.Availability != 1 || eu.Utilisation <= 0 {
				t.Errorf("sites %+v: want every request served, each site busy", res.Sites)
			}
			if res.LatencyMS.Min < 20 {
				t.Errorf("latency min %.1fms: the 20 ms round trip to the nearest site counts in it", res.LatencyMS.Min)
			}
			skipWhenHostDelayed(t, res, hostDelayForExactCounts)
			if lag := res.Generator.SendLagMS.P50; lag >= 20 {
				t.Errorf("send lag p50 %.1fms: the round trip is no lateness of the generator", lag)
			}
		})
	}
}
