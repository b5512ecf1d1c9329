package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/proxy"
)

// Several sites behind DNS, live: each site's built-in SUT in this
// process (a sut.Topology each, sc.AtSite), the DNS balancer between them
// (dns.go: its live checks of each site, its answers to the engine's
// clients), and per site its own fault timeline, so that a fault on a
// node is detected by its own site's proxy replicas alone, as the
// simulation has it.

// siteTopologies are the sites' topologies, in the scenario's order, read
// as one SUT by the sampler and the nodes' figures.
type siteTopologies []*sut.Topology

// startSites starts every site's built-in SUT; none is left running when
// one fails.
func startSites(ctx context.Context, sc *scenario.Scenario) (siteTopologies, error) {
	var sites siteTopologies
	for i, st := range sc.Sites {
		topo, err := sut.Start(ctx, sc.AtSite(i))
		if err != nil {
			_ = sites.Close()
			return nil, fmt.Errorf("site %s: %w", st.Name, err)
		}
		sites = append(sites, topo)
	}
	return sites, nil
}

// Nodes are every site's backends, site after site.
func (s siteTopologies) Nodes() []sut.NodeStats {
	var out []sut.NodeStats
	for _, t := range s {
		out = append(out, t.Nodes()...)
	}
	return out
}

// ReplicaStats are every site's proxy replicas' figures.
func (s siteTopologies) ReplicaStats() []proxy.Stats {
	var out []proxy.Stats
	for _, t := range s {
		out = append(out, t.ReplicaStats()...)
	}
	return out
}

func (s siteTopologies) ResetStats() {
	for _, t := range s {
		t.ResetStats()
	}
}

func (s siteTopologies) Close() error {
	var errs []error
	for _, t := range s {
		errs = append(errs, t.Close())
	}
	return errors.Join(errs...)
}

// siteFaults is one site's topology as its fault timeline drives it: a
// site-down also takes the site out of the DNS's reach until lifted.
type siteFaults struct {
	*sut.Topology
	dns  *liveDNS
	site int
}

func (s siteFaults) Inject(f scenario.Fault) (sut.Lift, error) {
	lift, err := s.Topology.Inject(f)
	if err != nil || f.Kind != "site-down" {
		return lift, err
	}
	record := s.dns.siteDown(s.site)
	return func() error {
		err := lift()
		s.dns.siteUp(record)
		return err
	}, nil
}

// executeSites runs a scenario with sites: each site's SUT started here,
// the engine's clients answered by the DNS balancer, the faults on each
// site's own timeline, and the sites' figures in the result.
func executeSites(ctx context.Context, sc *scenario.Scenario, opts Options) (*report.Result, error) {
	if opts.SUTProcess == SUTChild {
		return nil, scenario.Errors{sc.ErrorAt("sites", "several sites behind DNS run in the generator's process; run them without a SUT process apart")}
	}
	sites, err := startSites(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("starting the built-in SUT: %w", err)
	}
	defer sites.Close()
	load := opts.Options
	after, err := instrumentSites(ctx, sc, sites, &load)
	if err != nil {
		return nil, err
	}
	res, err := runner.Run(ctx, sc, load)
	if aerr := after(res); aerr != nil {
		err = errors.Join(aerr, err)
	}
	return res, err
}

// instrumentSites wires the sites into the run as instrument does one
// SUT: the engine's sites and their resolver, the nodes' figures, the
// DNS's checks, each site's fault timeline and the one sampler, on the
// run's clock. The returned function stops them and puts what they saw
// into the result (which may be nil).
func instrumentSites(ctx context.Context, sc *scenario.Scenario, sites siteTopologies, opts *runner.Options) (func(*report.Result) error, error) {
	dns, err := newLiveDNS(sc, sites)
	if err != nil {
		return nil, err
	}
	urls := make([][]string, len(sites))
	calls := 0
	for i, t := range sites {
		urls[i] = t.URLs()
		calls = max(calls, tierWakeups(sc.Sites[i].SUT))
	}
	opts.Sites = &runner.Sites{URLs: urls, Clients: sc.DNS.Clients, Resolver: dns}
	opts.SUTWakeups, opts.SUTLoopWakeups = builtinWakeups+calls, builtinLoopWakeups
	opts.NodeStats = nodeReports(sites)
	ctx, stop := context.WithCancel(ctx)
	timelines := make([]*faultTimeline, len(sites))
	for i, t := range sites {
		timelines[i] = newFaultTimeline(siteFaults{t, dns, i}, sc.AtSite(i).Faults)
	}
	sampler := newSampler(sites)
	sampler.observer, _ = opts.Observer.(NodeObserver)
	started := opts.Started
	opts.Started = func(t0 time.Time) {
		sites.ResetStats()
		dns.begin(ctx, t0)
		for _, tl := range timelines {
			tl.begin(ctx, t0)
		}
		sampler.begin(ctx, t0)
		if started != nil {
			started(t0)
		}
	}
	if len(sc.Faults) > 0 && opts.ActiveFaults == nil {
		opts.ActiveFaults = func() []string {
			var out []string
			for _, tl := range timelines {
				out = append(out, tl.active()...)
			}
			return out
		}
	}
	return func(res *report.Result) error {
		stop()
		for _, tl := range timelines {
			tl.finish()
		}
		dns.finish()
		sampler.finish()
		defer sampler.close()
		if res == nil {
			return nil
		}
		runEnd := time.Duration(res.MeasuredS * float64(time.Second))
		report.AttachTiers(res, report.SitesPools(sc), tierCounters(sites.Nodes()))
		err := sampler.attach(res)
		dns.attach(res)
		res.Faults = []report.Fault{}
		for i, tl := range timelines {
			results := tl.results(runEnd)
			dns.failovers(i, results, runEnd)
			res.Faults = append(res.Faults, results...)
		}
		slices.SortStableFunc(res.Faults, func(a, b report.Fault) int { return cmp.Compare(a.AtS, b.AtS) })
		report.ApplyRecoveryTimes(res, sc.WindowOK.Fraction())
		res.Projection = report.Project(sc, res.Faults, runEnd.Seconds())
		res.SinglePointsOfFailure = report.SinglePointsOfFailure(sc)
		return err
	}, nil
}
