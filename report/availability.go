package report

import (
	"math"
	"strconv"
	"time"

	"github.com/ilities/ilities/scenario"
)

// recoveryWindows is how many consecutive good windows end a fault's effect.
const recoveryWindows = 3

// windowGood reports whether window w reached the success ratio windowOK;
// a window into which nothing was scheduled counts as good.
func windowGood(w Window, windowOK float64) bool {
	offered := w.Scheduled - w.CutAtEnd - w.Exhausted
	if offered <= 0 {
		return true
	}
	return float64(w.Succeeded)/float64(offered) >= windowOK-1e-12
}

// RecoveryTime is the recovery time of a fault that started at atS and was
// lifted at endS (0: it lasted to the end), in seconds: from atS to the
// start of the first of 3 consecutive windows at or above windowOK that
// follow the fault's first window below it. A fault whose windows never
// fell below windowOK (from its start window to 3 windows after it was
// lifted) recovers at once: 0. It is negative when the 3 good windows did
// not come within the run.
func RecoveryTime(windows []Window, windowOK, atS, endS float64) float64 {
	first := max(int(math.Floor(atS)), 0)
	last := len(windows) - 1
	if endS > 0 {
		last = min(last, int(math.Ceil(endS))+recoveryWindows)
	}
	bad := -1
	for i := first; i <= last; i++ {
		if !windowGood(windows[i], windowOK) {
			bad = i
			break
		}
	}
	if bad < 0 {
		return 0
	}
	run := 0
	for i := bad + 1; i < len(windows); i++ {
		if !windowGood(windows[i], windowOK) {
			run = 0
			continue
		}
		run++
		if run == recoveryWindows {
			return roundMillis(math.Max(float64(i-recoveryWindows+1)-atS, 0))
		}
	}
	return -1
}

// ApplyRecoveryTimes fills each fault's RecoveryTimeS from the windows.
// Topology events (add-backend, remove-backend) get one too: a drain that
// failed requests shows.
func ApplyRecoveryTimes(res *Result, windowOK float64) {
	for i := range res.Faults {
		f := &res.Faults[i]
		f.RecoveryTimeS = RecoveryTime(res.Windows, windowOK, f.AtS, f.EndS)
	}
}

func roundMillis(s float64) float64 { return math.Round(s*1000) / 1000 }

// Availability projection ---------------------------------------------------

// Year is the length of the year downtime is projected over (365.25 days).
const Year = 365.25 * 24 * time.Hour

// Projection is the availability to expect in the long run from the
// topology (the scenario's sut) and each node's MTBF and MTTR:
//
//   - each node is up a fraction A = MTBF / (MTBF + MTTR) of the time. MTTR
//     is the node's declared mttr, or else its own time down in the run:
//     the mean length of the faults on it (from the fault taking effect to
//     its lift, or to the end of the run when it lasted that long), which
//     covers detection and repair; a node with neither takes the mean over
//     the run's node faults;
//   - a pool is up while at least k of its projected nodes are (k of n,
//     nodes failing independently; k is the pool's needs, 1 by default); a
//     database's writes need its primary, or with a promotable replica
//     cost a promotion per primary failure instead of its repair;
//   - a request routed to a pool needs that pool and every tier its calls
//     reach, each call weighted by the probability it is made (projection.go);
//   - the service is up while the proxy's replicas (when they declare an
//     MTBF) and every route are.
//
// Nodes without mtbf are left out (as if they never failed). The service's
// recovery time measured in the run (how long clients felt a fault) is a
// separate figure, kept per node as RecoveryS: it is not how long the node
// was down, and using it as the node's MTTR would make a pool of one node
// that the proxy routes around project as never down.
type Projection struct {
	Nodes []NodeProjection `json:"nodes"`
	Pools []PoolProjection `json:"pools"`
	// Routes are the pools the proxy routes to, each with the tiers below it.
	Routes  []RouteProjection `json:"routes"`
	Service Projected         `json:"service"`
	// WithoutMTTR names the nodes that declare an MTBF but have no MTTR
	// (none declared, no fault in the run): they are left out.
	WithoutMTTR []string `json:"without_mttr,omitempty"`
	// Approximate is set when tiers reached along several paths were too
	// many to weigh jointly and were taken as independent (projection.go).
	Approximate bool `json:"approximate,omitempty"`
}

// Projected is a long-run availability and the downtime it means per year.
type Projected struct {
	Availability     float64 `json:"availability"`
	DowntimePerYearS float64 `json:"downtime_per_year_s"`
}

// Where a node's MTTR comes from.
const (
	MTTRDeclared      = "declared"    // its mttr: in the scenario
	MTTRFromNode      = "node"        // its own faults, each from its start to its lift
	MTTRFromNodeToEnd = "node-to-end" // its own faults, one lasting to the end of the run: a lower bound
	MTTRFromRun       = "run"         // no fault of its own: the mean over the run's node faults
)

// NodeProjection is one node's projection.
type NodeProjection struct {
	Name  string  `json:"name"`
	Pool  string  `json:"pool"`
	MTBFH float64 `json:"mtbf_h"`
	// MTTRS is the node's mean time to repair (see Projection).
	MTTRS float64 `json:"mttr_s"`
	// MTTRFrom says where MTTRS comes from: MTTRDeclared, MTTRFromNode,
	// MTTRFromNodeToEnd or MTTRFromRun.
	MTTRFrom string `json:"mttr_from"`
	// RecoveryS is the mean measured recovery time of the service after
	// this node's faults (absent when none recovered within the run): what
	// clients felt, not how long the node was down.
	RecoveryS *float64 `json:"recovery_s,omitempty"`
	Projected
}

// Pool kinds of a projection: the live tiers' kinds, and the proxy's
// replicas as a pool of their own.
const (
	PoolRouted   = "routed"
	PoolTier     = "tier"
	PoolDatabase = "database"
	PoolCache    = "cache"
	PoolProxy    = "proxy"
)

// ProxyPool is the name the proxy's replicas go by in a projection; each
// replica is a node named proxy-1, proxy-2, … as the faults name them.
const ProxyPool = "proxy"

// PoolProjection is one pool's projection under k-of-n redundancy.
type PoolProjection struct {
	Name string `json:"name"`
	// Kind is PoolRouted, PoolTier, PoolDatabase, PoolCache or PoolProxy.
	Kind string `json:"kind"`
	// Nodes is how many of its nodes are projected, Needs how many of them
	// must be up (k of n).
	Nodes int `json:"nodes"`
	Needs int `json:"needs"`
	// Projected is the share of time the pool serves: k of its nodes up;
	// for a database, its reads.
	Projected
	// Writes is a database's writes: its primary up, or, with a promotable
	// replica, no promotion under way.
	Writes *Projected `json:"writes,omitempty"`
}

// RouteProjection is the availability a request routed to Pool sees: the
// pool and the tiers its calls reach, the proxy aside.
type RouteProjection struct {
	Pool string `json:"pool"`
	Projected
}

// NodeMTBF is a node's declared mean time between failures, and its mean
// time to repair when declared (0: measured in the run).
type NodeMTBF struct {
	Name, Pool string
	MTBF, MTTR time.Duration
}

// NodeMTBFs lists every node of the scenario's built-in SUT with what it
// declares: the pools' backends, those an add-backend fault starts, and
// the proxy's replicas (proxy-1 …, pool ProxyPool) when it declares an
// MTBF.
func NodeMTBFs(sc *scenario.Scenario) []NodeMTBF {
	if sc.SUT == nil {
		return nil
	}
	nodes := backendMTBFs(sc)
	proxy := sc.SUT.Proxy
	for _, name := range proxyReplicas(sc.SUT) {
		nodes = append(nodes, NodeMTBF{Name: name, Pool: ProxyPool, MTBF: proxy.MTBF.D(), MTTR: proxy.MTTR.D()})
	}
	return nodes
}

// backendMTBFs are the backends of NodeMTBFs: the pools' and those an
// add-backend fault starts.
func backendMTBFs(sc *scenario.Scenario) []NodeMTBF {
	var nodes []NodeMTBF
	for _, p := range sc.SUT.Pools {
		for _, b := range p.Backends {
			nodes = append(nodes, NodeMTBF{Name: b.Name, Pool: p.Name, MTBF: b.MTBF.D(), MTTR: b.MTTR.D()})
		}
	}
	for _, f := range sc.Faults {
		if f.Kind == "add-backend" && f.Backend != nil {
			nodes = append(nodes, NodeMTBF{Name: f.Backend.Name, Pool: f.Pool, MTBF: f.Backend.MTBF.D(), MTTR: f.Backend.MTTR.D()})
		}
	}
	return nodes
}

// proxyReplicas names the proxy's replicas as projected nodes: none unless
// the proxy declares an MTBF.
func proxyReplicas(s *scenario.SUT) []string {
	if s.Proxy.MTBF <= 0 {
		return nil
	}
	names := make([]string, max(s.Proxy.Replicas, 1))
	for i := range names {
		names[i] = ProxyPool + "-" + strconv.Itoa(i+1)
	}
	return names
}

// projectNodes projects each node that declares an MTBF and has an MTTR
// (declared, or from the faults' lengths; runEndS is the end of the run on
// the faults' clock, the end of a fault that was never lifted), and names
// those without an MTTR.
func projectNodes(nodes []NodeMTBF, faults []Fault, runEndS float64) (out []NodeProjection, withoutMTTR []string) {
	var all []float64
	down := map[string][]float64{}
	toEnd := map[string]bool{}
	recovery := map[string][]float64{}
	for _, f := range faults {
		d, lastedToEnd, ok := timeDown(f, runEndS)
		if !ok {
			continue
		}
		all = append(all, d)
		down[f.Node] = append(down[f.Node], d)
		toEnd[f.Node] = toEnd[f.Node] || lastedToEnd
		if f.RecoveryTimeS >= 0 {
			recovery[f.Node] = append(recovery[f.Node], f.RecoveryTimeS)
		}
	}
	for _, n := range nodes {
		if n.MTBF <= 0 {
			continue
		}
		np := NodeProjection{Name: n.Name, Pool: n.Pool, MTBFH: n.MTBF.Hours()}
		switch xs := down[n.Name]; {
		case n.MTTR > 0:
			np.MTTRS, np.MTTRFrom = n.MTTR.Seconds(), MTTRDeclared
		case len(xs) > 0 && toEnd[n.Name]:
			np.MTTRS, np.MTTRFrom = mean(xs), MTTRFromNodeToEnd
		case len(xs) > 0:
			np.MTTRS, np.MTTRFrom = mean(xs), MTTRFromNode
		case len(all) > 0:
			np.MTTRS, np.MTTRFrom = mean(all), MTTRFromRun
		default:
			withoutMTTR = append(withoutMTTR, n.Name)
			continue
		}
		if xs := recovery[n.Name]; len(xs) > 0 {
			r := mean(xs)
			np.RecoveryS = &r
		}
		mtbf := n.MTBF.Seconds()
		np.Projected = projected(mtbf / (mtbf + np.MTTRS))
		out = append(out, np)
	}
	return out, withoutMTTR
}

// timeDown is how long fault f kept its node down, in seconds, and whether
// it lasted to the end of the run (runEndS; 0 when unknown, then its
// planned length stands in). Topology events are not failures and a fault
// that could not be applied had no effect: neither counts.
func timeDown(f Fault, runEndS float64) (s float64, toEnd, ok bool) {
	if f.Error != "" || f.Node == "" || f.IsTopologyEvent() {
		return 0, false, false
	}
	switch {
	case f.EndS > 0:
		return math.Max(f.EndS-f.AtS, 0), false, true
	case runEndS > 0:
		return math.Max(runEndS-f.AtS, 0), true, true
	case f.ForS > 0:
		return f.ForS, true, true
	}
	return 0, false, false
}

func projected(a float64) Projected {
	return Projected{Availability: a, DowntimePerYearS: (1 - a) * Year.Seconds()}
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// formatSpan shows a span that may be long (a time to repair, a year's
// downtime) in the unit it reads best in: 338ms, 40.0s, 30.0min, 6.08h.
func formatSpan(s float64) string {
	h := s / 3600
	switch {
	case s < 600:
		return formatSeconds(s)
	case h < 1:
		return threeSignificant(s/60) + "min"
	case h < 999.5:
		return threeSignificant(h) + "h"
	}
	return strconv.FormatFloat(h, 'f', 0, 64) + "h"
}
