package scenario

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Fault is one event of the fault timeline: at offset At of the run, it acts
// on Node for For (0: until the end of the run), then is lifted.
//
//   - {at: 20s, for: 15s, kind: crash, node: app-2}
//   - {at: 10s, for: 5s, kind: slow, node: app-1, latency: {dist: exponential, mean: 50ms}}
//   - {at: 10s, kind: errors, node: app-1, percent: 20%, status: 503}
//   - {at: 40s, kind: add-backend, pool: app, backend: {name: app-4, workers: 8}}
//   - {at: 50s, kind: remove-backend, node: app-1, drain: 2s}
//   - {at: 20s, for: 60s, kind: site-down, site: eu}
type Fault struct {
	At   Duration `yaml:"at"`
	For  Duration `yaml:"for"`
	Kind string   `yaml:"kind"`
	// Node names the backend acted on (for add-backend: the new backend's
	// name, which may be given as backend.name instead).
	Node string `yaml:"node"`

	// Latency is the latency a slow node adds to each service.
	Latency Distribution `yaml:"latency"`
	// Percent is the share of requests affected by errors, reset and
	// truncate. Default 100%.
	Percent Percent `yaml:"percent"`
	// Status is the status errors answers: 500 (default) or 503.
	Status int `yaml:"status"`
	// Workers is the number of workers a degraded node keeps.
	Workers int `yaml:"workers"`
	// Period is a flap's cycle: down for half of it, then up for half.
	Period Duration `yaml:"period"`
	// Pool and Backend describe the backend add-backend starts.
	Pool    string   `yaml:"pool"`
	Backend *Backend `yaml:"backend"`
	// Drain is how long remove-backend lets requests in flight finish
	// before it stops the backend. Default 5s.
	Drain Duration `yaml:"drain"`
	// Site names the site site-down takes down, and the site of
	// crash-proxy's replica when there are several (sites:).
	Site string `yaml:"site"`
}

// FaultKinds are the accepted fault kinds. Validation reads them; package
// sut implements each in a file of its own (fault_<kind>.go) and its tests,
// like the CLI's for the docs tables, fail on a kind missing there.
var FaultKinds = []string{
	"crash", "hang", "slow", "errors", "reset", "truncate", "degrade", "flap",
	"crash-proxy", "add-backend", "remove-backend", "site-down",
}

// topologyKinds are the fault kinds that change the topology for good.
var topologyKinds = []string{"add-backend", "remove-backend"}

// IsTopologyKind reports whether faults of kind are permanent changes of
// the topology rather than conditions that are lifted: they take no for:,
// make nothing fail, and nothing is there to detect or recover from.
func IsTopologyKind(kind string) bool { return contains(topologyKinds, kind) }

// DefaultDrain is remove-backend's drain when none is set.
const DefaultDrain = Duration(5_000_000_000)

// EndAt is when the fault is lifted, or 0 when it lasts to the end.
func (f Fault) EndAt() Duration {
	if f.For == 0 {
		return 0
	}
	return f.At + f.For
}

// IsTopologyEvent reports whether the fault is a permanent change of the
// topology rather than a condition that is lifted.
func (f Fault) IsTopologyEvent() bool { return IsTopologyKind(f.Kind) }

// NeedsBuiltinProxy reports whether the fault changes what only the
// built-in proxy can change while it runs: its members (the topology
// events) or its replicas. A real proxy's configuration is fixed at start.
func (f Fault) NeedsBuiltinProxy() bool {
	return f.IsTopologyEvent() || f.Kind == "crash-proxy" || f.Kind == "site-down"
}

func (f *Fault) applyDefaults() {
	switch f.Kind {
	case "errors", "reset", "truncate":
		if f.Percent == 0 {
			f.Percent = 1
		}
	}
	if f.Kind == "errors" && f.Status == 0 {
		f.Status = 500
	}
	if f.Kind == "remove-backend" && f.Drain == 0 {
		f.Drain = DefaultDrain
	}
	if f.Kind == "add-backend" && f.Backend != nil {
		if f.Backend.Name == "" {
			f.Backend.Name = f.Node
		}
		if f.Node == "" {
			f.Node = f.Backend.Name
		}
		f.Backend.applyDefaults()
	}
}

// applyFaultDefaults fills the faults' defaults; ApplyDefaults calls it.
func (s *Scenario) applyFaultDefaults() {
	for i := range s.Faults {
		f := &s.Faults[i]
		if f.Kind == "add-backend" && f.Pool == "" {
			if pools := s.allPoolNames(); len(pools) == 1 {
				f.Pool = pools[0]
			}
		}
		f.applyDefaults()
	}
}

// faults checks the timeline against the topology: every node a fault
// names exists at the fault's time (added by an earlier add-backend, not
// yet removed), and each kind has the fields it needs and no others.
func (v *validator) faults(s *Scenario) {
	if len(s.Faults) == 0 {
		return
	}
	sites := s.AllSites()
	if sites == nil {
		v.add("faults", "faults need the built-in sut: (they act on its backends); an external target cannot be faulted")
		return
	}
	type live struct{ removedAt Duration }
	nodes := map[string]*live{}
	pools := map[string]bool{}
	var names, siteNames []string
	for _, site := range sites {
		siteNames = append(siteNames, site.Name)
		if site.SUT == nil {
			continue
		}
		for _, p := range site.SUT.Pools {
			pools[p.Name] = true
			for _, b := range p.Backends {
				nodes[b.Name] = &live{}
				names = append(names, b.Name)
			}
		}
	}
	order := make([]int, len(s.Faults))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return s.Faults[order[a]].At < s.Faults[order[b]].At })
	for _, i := range order {
		f := &s.Faults[i]
		path := fmt.Sprintf("faults[%d]", i)
		if !contains(FaultKinds, f.Kind) {
			if f.Kind == "" {
				v.addf(path, "a fault needs kind: one of %s", strings.Join(FaultKinds, ", "))
			} else {
				v.oneOf(path+".kind", "fault kind", f.Kind, FaultKinds)
			}
			continue
		}
		if s.Duration > 0 && f.At >= s.Duration {
			v.addf(path+".at", "at %s is not within the run (duration %s)", f.At, s.Duration)
		}
		v.faultFields(path, f)
		switch f.Kind {
		case "add-backend":
			if f.Backend == nil {
				v.add(path, `add-backend needs backend: such as "backend: {name: app-4, workers: 8}"`)
				continue
			}
			if !pools[f.Pool] {
				v.addf(path+".pool", "add-backend needs pool: one of the sut's pools (%s), got %q", strings.Join(sortedKeys(pools), ", "), f.Pool)
			}
			if f.Node != f.Backend.Name {
				v.addf(path+".node", "node %q and backend.name %q differ; give the name once", f.Node, f.Backend.Name)
			}
			if _, dup := nodes[f.Node]; dup {
				v.addf(path+".backend.name", "backend name %q is already used; backend names must be unique across the sut", f.Node)
			} else {
				nodes[f.Node] = &live{}
				names = append(names, f.Node)
			}
			v.backend(path+".backend", *f.Backend)
			continue
		case "crash-proxy":
			site := v.faultSite(path, s, f, siteNames)
			if site < 0 || sites[site].SUT == nil {
				continue
			}
			replicas := max(sites[site].SUT.Proxy.Replicas, 1)
			n, err := strconv.Atoi(strings.TrimPrefix(f.Node, "proxy-"))
			if f.Node != "" && (!strings.HasPrefix(f.Node, "proxy-") || err != nil || n < 1 || n > replicas) {
				v.addf(path+".node", "crash-proxy acts on a proxy replica: proxy-1 to proxy-%d (%s), got %q", replicas, s.SUTPath(site, "sut.proxy.replicas"), f.Node)
			}
			continue
		case "site-down":
			v.faultSite(path, s, f, siteNames)
			if f.Node != "" {
				v.addf(path+".node", "site-down takes a whole site down and names it with site:, not node:")
			}
			continue
		}
		n, ok := nodes[f.Node]
		switch {
		case f.Node == "":
			v.addf(path+".node", "%s needs node: one of %s", f.Kind, strings.Join(names, ", "))
			continue
		case !ok:
			msg := fmt.Sprintf("unknown node %q; backends: %s", f.Node, strings.Join(names, ", "))
			if c := closest(f.Node, names); c != "" {
				msg = fmt.Sprintf("unknown node %q (did you mean %q?); backends: %s", f.Node, c, strings.Join(names, ", "))
			}
			v.add(path+".node", msg)
			continue
		case n.removedAt > 0 && f.At >= n.removedAt:
			v.addf(path+".at", "node %q is removed at %s, before this fault", f.Node, n.removedAt)
		}
		if f.Kind == "remove-backend" {
			n.removedAt = max(f.At, 1)
		}
	}
}

// faultSite checks the site a site-down or crash-proxy fault names and
// returns its index, or -1: with sites:, site: is one of them; with sut:
// alone, there is one site and site: is left out.
func (v *validator) faultSite(path string, s *Scenario, f *Fault, sites []string) int {
	switch {
	case !s.HasSites() && f.Site != "":
		v.addf(path+".site", "site: names one of the sites: of a scenario that has them; with sut: alone, %s acts on its one topology: remove site:", f.Kind)
		return -1
	case !s.HasSites():
		return 0
	case f.Site == "":
		v.addf(path+".site", "%s needs site: one of %s", f.Kind, strings.Join(sites, ", "))
		return -1
	}
	i := s.SiteIndex(f.Site)
	if i < 0 {
		v.oneOf(path+".site", "site", f.Site, sites)
	}
	return i
}

// faultFields checks the kind-specific fields of one fault.
func (v *validator) faultFields(path string, f *Fault) {
	uses := map[string]bool{}
	switch f.Kind {
	case "slow":
		uses["latency"] = true
		v.distribution(path+".latency", f.Latency)
	case "errors":
		uses["percent"], uses["status"] = true, true
		if f.Status != 500 && f.Status != 503 {
			v.addf(path+".status", "errors answers 500 or 503, got %d", f.Status)
		}
	case "reset", "truncate":
		uses["percent"] = true
	case "degrade":
		uses["workers"] = true
		if f.Workers < 1 {
			v.add(path+".workers", "degrade needs workers: the number of workers left (at least 1); for none, use hang")
		}
	case "flap":
		uses["period"] = true
		if f.Period <= 0 {
			v.add(path+".period", `flap needs period: a duration such as "2s" (down for half, up for half)`)
		}
	case "add-backend":
		uses["pool"], uses["backend"] = true, true
	case "remove-backend":
		uses["drain"] = true
	}
	if f.Site != "" && f.Kind != "site-down" && f.Kind != "crash-proxy" {
		v.addf(path+".site", "site does not apply to kind: %s (only to site-down and crash-proxy, whose node names a site's replica)", f.Kind)
	}
	if f.IsTopologyEvent() && f.For != 0 {
		v.addf(path+".for", "%s is a permanent change of the topology and takes no for:", f.Kind)
	}
	set := map[string]bool{
		"latency": f.Latency != (Distribution{}),
		"percent": f.Percent != 0,
		"status":  f.Status != 0,
		"workers": f.Workers != 0,
		"period":  f.Period != 0,
		"pool":    f.Pool != "" && f.Kind != "add-backend",
		"backend": f.Backend != nil,
		"drain":   f.Drain != 0,
	}
	for _, name := range []string{"latency", "percent", "status", "workers", "period", "pool", "backend", "drain"} {
		if set[name] && !uses[name] {
			v.addf(path+"."+name, "%s does not apply to kind: %s", name, f.Kind)
		}
	}
}

// backend checks one backend's own fields (shared by the pools' backends
// and add-backend).
func (v *validator) backend(bpath string, b Backend) {
	if b.Name == "" {
		v.add(bpath+".name", "a backend needs a name")
	}
	if b.Workers < 1 {
		v.addf(bpath+".workers", "workers must be at least 1, got %d", b.Workers)
	}
	if b.Queue != nil && *b.Queue < 0 {
		v.addf(bpath+".queue", "queue must be 0 or more, got %d", *b.Queue)
	}
	if b.Weight < 1 {
		v.addf(bpath+".weight", "weight must be at least 1, got %d", b.Weight)
	}
	v.listen(bpath+".listen", b.Listen)
	v.distribution(bpath+".service_time", b.ServiceTime)
	v.backendExtras(bpath, b)
}

// backendExtras checks the backend fields beyond the queueing station.
func (v *validator) backendExtras(bpath string, b Backend) {
	if b.ResponseSize != nil {
		v.sizeDistribution(bpath+".response_size", *b.ResponseSize)
	}
}

// sizeDistribution checks a size distribution the way distribution checks
// a duration one.
func (v *validator) sizeDistribution(path string, d SizeDistribution) {
	if d.Dist == "" {
		v.addf(path, "%s needs dist: one of %s", lastElem(path), strings.Join(Distributions, ", "))
		return
	}
	if !contains(Distributions, d.Dist) {
		v.oneOf(path+".dist", "distribution", d.Dist, Distributions)
		return
	}
	sub := &validator{}
	sub.distribution(path, d.durations())
	for _, e := range sub.errs {
		// The checks are the same; only the examples speak of durations.
		e.Msg = strings.NewReplacer(`a duration greater than 0 such as "5ms"`, `a size greater than 0 such as "4KB"`,
			`a duration greater than 0 such as "4ms"`, `a size greater than 0 such as "4KB"`,
			"a duration greater than 0", "a size greater than 0").Replace(e.Msg)
		v.errs = append(v.errs, e)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
