package report

import (
	"math"
	"sort"
	"strconv"
	"time"
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

// Projection is the availability to expect in the long run from the nodes'
// declared MTBF and how long each node was down in the run:
//
//   - each node is up a fraction A = MTBF / (MTBF + MTTR) of the time, where
//     MTTR is the node's own time down: the mean length of the faults on it
//     (from the fault taking effect to its lift, or to the end of the run
//     when it lasted that long), which covers detection and repair; a node
//     with no fault of its own takes the mean over the run's node faults;
//   - a pool is up while at least one of its projected nodes is up, nodes
//     failing independently: A_pool = 1 − Π(1 − A_node);
//   - the service is up while every pool is: A_service = Π A_pool.
//
// Nodes without mtbf are left out (as if they never failed). The service's
// recovery time measured in the run (how long clients felt a fault) is a
// separate figure, kept per node as RecoveryS: it is not how long the node
// was down, and using it as the node's MTTR would make a pool of one node
// that the proxy routes around project as never down.
type Projection struct {
	Nodes   []NodeProjection `json:"nodes"`
	Pools   []PoolProjection `json:"pools"`
	Service Projected        `json:"service"`
}

// Projected is a long-run availability and the downtime it means per year.
type Projected struct {
	Availability     float64 `json:"availability"`
	DowntimePerYearS float64 `json:"downtime_per_year_s"`
}

// Where a node's MTTR comes from.
const (
	MTTRFromNode      = "node"        // its own faults, each from its start to its lift
	MTTRFromNodeToEnd = "node-to-end" // its own faults, one lasting to the end of the run: a lower bound
	MTTRFromRun       = "run"         // no fault of its own: the mean over the run's node faults
)

// NodeProjection is one node's projection.
type NodeProjection struct {
	Name  string  `json:"name"`
	Pool  string  `json:"pool"`
	MTBFH float64 `json:"mtbf_h"`
	// MTTRS is the node's mean time down per fault (see Projection).
	MTTRS float64 `json:"mttr_s"`
	// MTTRFrom says where MTTRS comes from: MTTRFromNode, MTTRFromNodeToEnd
	// or MTTRFromRun.
	MTTRFrom string `json:"mttr_from"`
	// RecoveryS is the mean measured recovery time of the service after
	// this node's faults (absent when none recovered within the run): what
	// clients felt, not how long the node was down.
	RecoveryS *float64 `json:"recovery_s,omitempty"`
	Projected
}

// PoolProjection is one pool's projection under k-of-n redundancy (k = 1).
type PoolProjection struct {
	Name  string `json:"name"`
	Nodes int    `json:"nodes"`
	Projected
}

// NodeMTBF is a node's declared mean time between failures.
type NodeMTBF struct {
	Name, Pool string
	MTBF       time.Duration
}

// ProjectRun computes the projection for the nodes that declare an MTBF
// from the faults' lengths; runEndS is the end of the run on the faults'
// clock, the end of a fault that was never lifted. It returns nil when no
// node declares an MTBF or no fault took a node down (there is no MTTR).
func ProjectRun(nodes []NodeMTBF, faults []Fault, runEndS float64) *Projection {
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
	if len(all) == 0 {
		return nil
	}
	p := &Projection{Nodes: []NodeProjection{}, Pools: []PoolProjection{}}
	pools := map[string]*PoolProjection{}
	unavailable := map[string]float64{} // Π(1 − A) per pool
	for _, n := range nodes {
		if n.MTBF <= 0 {
			continue
		}
		np := NodeProjection{Name: n.Name, Pool: n.Pool, MTBFH: n.MTBF.Hours(), MTTRS: mean(all), MTTRFrom: MTTRFromRun}
		if xs := down[n.Name]; len(xs) > 0 {
			np.MTTRS, np.MTTRFrom = mean(xs), MTTRFromNode
			if toEnd[n.Name] {
				np.MTTRFrom = MTTRFromNodeToEnd
			}
		}
		if xs := recovery[n.Name]; len(xs) > 0 {
			r := mean(xs)
			np.RecoveryS = &r
		}
		mtbf := n.MTBF.Seconds()
		a := mtbf / (mtbf + np.MTTRS)
		np.Projected = projected(a)
		p.Nodes = append(p.Nodes, np)
		if pools[n.Pool] == nil {
			pools[n.Pool] = &PoolProjection{Name: n.Pool}
			unavailable[n.Pool] = 1
		}
		pools[n.Pool].Nodes++
		unavailable[n.Pool] *= 1 - a
	}
	if len(p.Nodes) == 0 {
		return nil
	}
	service := 1.0
	for name, pp := range pools {
		pp.Projected = projected(1 - unavailable[name])
		service *= pp.Availability
		p.Pools = append(p.Pools, *pp)
	}
	sort.Slice(p.Pools, func(i, j int) bool { return p.Pools[i].Name < p.Pools[j].Name })
	p.Service = projected(service)
	return p
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

// formatAvailability shows an availability with enough decimals to tell it
// from 100%: 99.9999614%.
func formatAvailability(a float64) string {
	if a >= 1 {
		return "100%"
	}
	decimals := min(max(int(math.Ceil(-math.Log10(1-a)))-1, 2), 9)
	return strconv.FormatFloat(a*100, 'f', decimals, 64) + "%"
}
