// Package sim simulates a run of a scenario's built-in SUT on a virtual
// clock: the same scenario as ilities run, without a network, a host or
// real time, so that a run is free of the machine's noise, deterministic
// given its seed, and far faster than real time.
//
// The parts that do not need real time are the live ones: each workload's
// arrivals and requests come from the runner's pacer and mix with the same
// seeds (the live run's arrivals), the proxy picks with the scenario's
// balancing policy (sut/balancer, the live proxy's code, told the virtual
// time), and each backend is the M/G/c/K station of sut/backend, drawing
// the same service times. What they measure goes through the runner's own
// recording (runner.Recording), so a simulated result has every figure of a
// live one that the model knows, computed by the same code, and is judged
// by the same requirements. What the model does not hold yet is refused by
// Unsupported, at its place in the scenario.
package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
)

// Options are the model's constants and the run's slice.
type Options struct {
	// ProxyCost is the proxy's own time per request (reading it, picking,
	// writing it on); NetworkDelay is one hop's (generator to proxy, proxy
	// to backend, and back: four per request). Zero is none.
	ProxyCost    time.Duration
	NetworkDelay time.Duration
	// Segment simulates a deterministic slice of every workload, as run
	// --segment runs one.
	Segment runner.Segment
	// Version is the tool's version, in the result ("ilities <Version>").
	Version string
}

// The model's constants by default, until they are calibrated: the order
// of magnitude of this machine's loopback, where the live SUT runs. A hop
// of a small request costs the receiving thread's wake-up after the
// sender's write, tens of microseconds on a VM like this one (bench/erlang
// measures it first), and the built-in proxy's own work per request about
// as much.
const (
	DefaultProxyCost    = 30 * time.Microsecond
	DefaultNetworkDelay = 20 * time.Microsecond
)

// DefaultOptions are the model's constants by default, for the whole run.
func DefaultOptions() Options {
	return Options{ProxyCost: DefaultProxyCost, NetworkDelay: DefaultNetworkDelay}
}

// sim is one simulated run.
type sim struct {
	cal       calendar
	fs        flights
	workloads []*workload
	stations  []*station
	// tiers is each pool's part in the tiers, clients every calling
	// backend's client of each pool it calls, callDeadlines the calls'
	// deadlines, a list per timeout (tiers.go).
	tiers         []tierPool
	clients       []tierClient
	callDeadlines []deadlines
	// slotStation is the station of each worker's slot, by the slot's
	// event id (station.firstSlot + slot).
	slotStation []int32
	// proxies are each site's proxy (one without sites:), replicas every
	// proxy's replicas in order, specs every pool's as the proxies route,
	// cookies the Cookie lines of the sessions; firstPool is each site's
	// first pool among the run's.
	proxies   []*simProxy
	replicas  []*replica
	specs     []poolSpec
	cookies   cookieLines
	firstPool []int
	// dns is the DNS balancer between the sites and its clients (nil
	// without sites:); sites each site's figures (dns.go).
	dns    *dnsModel
	sites  []siteCounts
	faults []faultRun
	// proxyWindows are windows[].proxy, read at each second's end as the
	// live sampler reads the replicas; proxyCounts the counters last read.
	proxyWindows []map[string]report.ProxyWindow
	proxyCounts  map[string]report.ProxyWindow
	rec          *runner.Recording
	net          time.Duration
	duration     time.Duration
	segment      runner.Segment
	// last is when the last request ended (answered or timed out): the
	// end of the run, its requests in flight awaited.
	last int64

	// users are the closed loops' virtual users, sessions the sessions
	// they hold (one per user of a session, afresh per iteration), which
	// flights index and the proxy and stations read, data the test data's
	// cursors.
	users    []user
	sessions []session
	data     *runner.DataCursors
}

// Run simulates the scenario (loaded, defaults applied) and returns its
// result, evaluated against its requirements as a live run's is. The
// error is Unsupported's when the scenario holds what the model does not,
// or ctx's when it ends first.
func Run(ctx context.Context, sc *scenario.Scenario, opts Options) (*report.Result, error) {
	if err := Unsupported(sc); err != nil {
		return nil, err
	}
	if opts.ProxyCost < 0 || opts.NetworkDelay < 0 {
		return nil, errors.New("sim: the proxy's cost and the network delay must not be negative")
	}
	started := time.Now()
	s, err := build(sc, opts)
	if err != nil {
		return nil, err
	}
	if err := s.run(ctx); err != nil {
		return nil, err
	}
	return s.result(sc, started)
}

// build lays out the model of sc: its stations, its proxies, its DNS, its
// workloads.
func build(sc *scenario.Scenario, opts Options) (*sim, error) {
	s := &sim{net: opts.NetworkDelay, duration: sc.Duration.D(), segment: opts.Segment}
	if !s.segment.Whole() && (s.segment.K < 1 || s.segment.K > s.segment.N) {
		return nil, errors.New("sim: a segment K/N needs 1 <= K <= N")
	}
	// Every backend the run may have is a station from the start: those
	// of the pools, members at once, and those add-backend starts later.
	// A tier's backends are no members of the proxy's pools: their
	// callers reach them (tiers.go). Every site's pools and stations are
	// the run's, in the sites' order.
	sites := sc.AllSites()
	var pools []scenario.Pool
	var poolSite, members []int32
	stationOf := map[string]int32{}
	poolOf := map[string]int32{}
	for i, site := range sites {
		s.firstPool = append(s.firstPool, len(pools))
		for _, pc := range site.SUT.Pools {
			poolOf[pc.Name] = int32(len(pools))
			pools = append(pools, pc)
			poolSite = append(poolSite, int32(i))
		}
	}
	tiers := (&scenario.SUT{Pools: pools}).Tiers()
	addStation := func(b scenario.Backend, pool int32, member bool) {
		st := newStation(sc.Seed, b, pool)
		st.site = poolSite[pool]
		st.firstSlot = int32(len(s.slotStation))
		for range st.workers {
			s.slotStation = append(s.slotStation, int32(len(s.stations)))
		}
		stationOf[b.Name] = int32(len(s.stations))
		s.stations = append(s.stations, st)
		members = append(members, pool)
		if !member {
			members[len(members)-1] = -1
		}
	}
	for i, pc := range pools {
		for _, b := range pc.Backends {
			addStation(b, int32(i), !tiers[pc.Name])
		}
	}
	for _, f := range sc.Faults {
		if f.Kind == "add-backend" && f.Backend != nil {
			addStation(*f.Backend, poolOf[f.Pool], false)
			s.stations[len(s.stations)-1].closed = true // until it starts
		}
	}
	s.buildTiers(sc.Seed, pools, stationOf)
	if err := s.buildProxies(sc, opts, members); err != nil {
		return nil, err
	}
	if err := s.startProxies(); err != nil {
		return nil, err
	}
	if err := s.buildDNS(sc); err != nil {
		return nil, err
	}
	if err := s.planFaults(sc, stationOf); err != nil {
		return nil, err
	}
	s.data = runner.NewDataCursors(sc)
	for i, spec := range sc.Workload {
		reqs := spec.Requests
		switch {
		case len(spec.Session) > 0:
			reqs = spec.Session
		case len(reqs) == 0: // the runner's default: one GET /
			reqs = []scenario.Request{{Path: "/"}}
		}
		requests := make([][]request, len(s.proxies))
		for site, p := range s.proxies {
			requests[site] = make([]request, len(reqs))
			for j, r := range reqs {
				var err error
				if requests[site][j], err = p.newRequest(sc.AtSite(site), seen(r)); err != nil {
					return nil, fmt.Errorf("sim: workload %q: %w", spec.Name, err)
				}
			}
		}
		w, err := newWorkload(sc, i, requests, len(s.replicas))
		if err != nil {
			return nil, err
		}
		s.workloads = append(s.workloads, w)
		if w.closed {
			s.addUsers(sc, w)
		}
	}
	var err error
	s.rec, err = runner.NewRecording(sc, runner.Options{Segment: opts.Segment, Version: opts.Version, NodeStats: s.nodeStats})
	return s, err
}

// buildProxies lays out each site's proxy in front of its stations
// (members: each station's pool, -1 for none), and what they share: every
// pool's spec and the sessions' Cookie lines.
func (s *sim) buildProxies(sc *scenario.Scenario, opts Options, members []int32) error {
	for i, site := range sc.AllSites() {
		member := make([]int32, len(members))
		for st, pl := range members {
			member[st] = -1
			if s.stations[st].site == int32(i) {
				member[st] = pl
			}
		}
		view := sc.AtSite(i)
		p, err := newProxy(view, int32(i), site.Name, int32(len(s.replicas)), opts, member)
		if err != nil {
			return err
		}
		specs, err := p.poolSpecs(view)
		if err != nil {
			return err
		}
		s.specs = append(s.specs, specs...)
		s.proxies = append(s.proxies, p)
		s.replicas = append(s.replicas, p.replicas...)
	}
	for _, p := range s.proxies {
		p.specs = s.specs
	}
	names := make([]string, len(s.stations))
	for i, st := range s.stations {
		names[i] = st.name
	}
	s.cookies = newCookieLines(names, s.specs, backend.SessionCookie)
	return nil
}

// run plays the calendar out: every arrival, and every request to its end.
func (s *sim) run(ctx context.Context) error {
	s.begin()
	second := int64(0)
	for {
		e, ok := s.cal.next()
		if !ok {
			break
		}
		if t := s.cal.now / int64(time.Second); t > second {
			// Once a simulated second: the recording finishes the windows
			// no arrival can reach any more, and a cancelled run stops.
			s.readProxy(int(t))
			second = t
			s.rec.Advance(time.Duration(s.cal.now))
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		s.handle(e)
	}
	return ctx.Err()
}

// begin schedules each open loop's first arrival (the closed loops' users
// were scheduled as they were laid out).
func (s *sim) begin() {
	for _, w := range s.workloads {
		if !w.closed {
			s.draw(w)
		}
	}
}

// handle has event e happen, now.
func (s *sim) handle(e event) {
	switch e.kind {
	case arrival:
		s.arrive(s.workloads[e.id])
	case clientAnswer:
		s.clientAnswer(e.id)
	case clientTimeout:
		s.clientTimeout(s.workloads[e.id])
	case userReady:
		s.userReady(e.id)
	case failover:
		s.failover(e.id)
	case atProxy:
		s.atProxy(e.id)
	case proxyAnswer:
		s.proxyAnswer(e.id)
	case proxyTimeout:
		s.proxyTimeout(e.id)
	case proxyQueueTimeout:
		s.proxyQueueTimeout(e.id)
	case healthCheck:
		s.healthCheck(e.id)
	case checkExpired:
		s.checkTimedOut(e.id)
	case ejectionEnd:
		s.ejectionEnd(e.id)
	case slowStartTick:
		s.slowStartTick(e.id)
	case atStation:
		s.atStation(e.id)
	case serviceEnd:
		s.serviceEnd(e.id)
	case callTimeout:
		s.callTimeout(e.id)
	case promotion:
		s.promote(e.id)
	case faultFire:
		s.fireFault(e.id)
	case faultLift:
		s.liftFault(e.id)
	case flapToggle:
		s.flapToggle(e.id)
	case drainPoll:
		s.drainPoll(e.id)
	case dnsCheck:
		s.dnsCheck(e.id)
	}
}

// schedule has event kind happen to flight id d from now, which holds it.
func (s *sim) schedule(id int32, kind eventKind, d time.Duration) {
	s.fs.all[id].holds++
	s.cal.after(d, event{kind, id})
}

// hop has event kind happen to flight id one network hop from now: from
// the client to its proxy, or back, the way from its region to the site
// (flight.path) included.
func (s *sim) hop(id int32, kind eventKind) {
	s.schedule(id, kind, s.net+time.Duration(s.fs.all[id].path))
}
