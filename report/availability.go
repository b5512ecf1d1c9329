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
	offered := w.Scheduled - w.CutAtEnd
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
// declared MTBF and the recovery times measured in the run:
//
//   - each node is up a fraction A = MTBF / (MTBF + MTTR) of the time, where
//     MTTR is the mean recovery time measured for faults on that node (or,
//     when none acted on it, over all the run's faults);
//   - a pool is up while at least one of its projected nodes is up, nodes
//     failing independently: A_pool = 1 − Π(1 − A_node);
//   - the service is up while every pool is: A_service = Π A_pool.
//
// Nodes without mtbf are left out (as if they never failed). The model
// counts a node's failure against the service only when it coincides with
// the failure of every other node of its pool; the measured recovery time
// is what each single failure costs clients.
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

// NodeProjection is one node's projection.
type NodeProjection struct {
	Name  string  `json:"name"`
	Pool  string  `json:"pool"`
	MTBFH float64 `json:"mtbf_h"`
	MTTRS float64 `json:"mttr_s"`
	// MTTRFrom says where MTTR comes from: "node" (faults on this node) or
	// "run" (all the run's faults).
	MTTRFrom string `json:"mttr_from"`
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

// Project computes the projection for the nodes that declare an MTBF, with
// the recovery times of faults. It returns nil when no node declares one or
// no fault recovered within the run (there is no MTTR to use).
func Project(nodes []NodeMTBF, faults []Fault) *Projection {
	var all []float64
	byNode := map[string][]float64{}
	for _, f := range faults {
		if f.RecoveryTimeS >= 0 {
			all = append(all, f.RecoveryTimeS)
			byNode[f.Node] = append(byNode[f.Node], f.RecoveryTimeS)
		}
	}
	if len(all) == 0 {
		return nil
	}
	p := &Projection{Nodes: []NodeProjection{}, Pools: []PoolProjection{}}
	pools := map[string]*PoolProjection{}
	down := map[string]float64{} // Π(1 − A) per pool
	for _, n := range nodes {
		if n.MTBF <= 0 {
			continue
		}
		mttr, from := mean(all), "run"
		if xs := byNode[n.Name]; len(xs) > 0 {
			mttr, from = mean(xs), "node"
		}
		mtbf := n.MTBF.Seconds()
		a := mtbf / (mtbf + mttr)
		p.Nodes = append(p.Nodes, NodeProjection{Name: n.Name, Pool: n.Pool, MTBFH: n.MTBF.Hours(), MTTRS: mttr,
			MTTRFrom: from, Projected: projected(a)})
		if pools[n.Pool] == nil {
			pools[n.Pool] = &PoolProjection{Name: n.Pool}
			down[n.Pool] = 1
		}
		pools[n.Pool].Nodes++
		down[n.Pool] *= 1 - a
	}
	if len(p.Nodes) == 0 {
		return nil
	}
	service := 1.0
	for name, pp := range pools {
		pp.Projected = projected(1 - down[name])
		service *= pp.Availability
		p.Pools = append(p.Pools, *pp)
	}
	sort.Slice(p.Pools, func(i, j int) bool { return p.Pools[i].Name < p.Pools[j].Name })
	p.Service = projected(service)
	return p
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
