package report

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ilities/ilities/scenario"
)

// Merge combines the results of the segments of one run (ilities run
// --segment K/N, one per process or machine) into the result of the whole
// run, and evaluates the requirements again on it.
//
// The combination is exact: counts add up, and every percentile comes from
// the sum of the parts' encoded HDR histograms, never from averaging
// percentiles. Every segment 1/N..N/N must be there exactly once, all of one
// scenario, seed and duration.
//
// The parts' per-second windows are added up by absolute time: a part
// whose clock started whole seconds after the earliest one's has its
// windows shifted by as much (SegmentStarts), and parts that started
// further apart than DefaultMaxSkew make the merged result invalid.
func Merge(parts []*Result) (*Result, error) {
	return MergeWith(parts, MergeOptions{MaxSkew: DefaultMaxSkew})
}

// MergeWith is Merge with the skew its options allow.
func MergeWith(parts []*Result, opts MergeOptions) (*Result, error) {
	if err := checkParts(parts); err != nil {
		return nil, err
	}
	starts, offsets := segmentStarts(parts, opts.MaxSkew)
	parts = alignParts(parts, offsets)
	first := parts[0]
	res := &Result{
		SchemaVersion: SchemaVersion,
		Tool:          first.Tool,
		Scenario:      first.Scenario,
		Mode:          first.Mode,
		Seed:          first.Seed,
		Strategy:      first.Strategy,
		Started:       first.Started,
		DurationS:     first.DurationS,
		WindowOK:      first.WindowOK,
		WarmupS:       first.WarmupS,
		Faults:        first.Faults,
		Manifest:      first.Manifest,
		Workloads:     []WorkloadResult{},
		Nodes:         []Node{},
		Windows:       []Window{},
		Starts:        starts,
	}
	// Read from the topology: the same in every segment.
	res.Projection, res.SinglePointsOfFailure, res.Topology = first.Projection, first.SinglePointsOfFailure, first.Topology
	var targets []string
	windowsS := 0.0 // the windows' extent, the parts' shifts included
	for i, p := range parts {
		if offsets != nil {
			windowsS = max(windowsS, float64(offsets[i])+p.MeasuredS)
		}
		if p.Started.Before(res.Started) {
			res.Started = p.Started
		}
		res.MeasuredS = max(res.MeasuredS, p.MeasuredS)
		res.Incomplete = res.Incomplete || p.Incomplete
		res.RunError = cmp.Or(res.RunError, p.RunError)
		res.Parts = append(res.Parts, p.Segment)
		for _, t := range strings.Fields(p.Target) {
			if !containsString(targets, t) {
				targets = append(targets, t)
			}
		}
	}
	res.Target = strings.Join(targets, " ")
	// Parts that started whole seconds apart measured, together, for longer.
	res.MeasuredS = max(res.MeasuredS, windowsS)
	figuresS := res.MeasuredS - res.WarmupS

	var err error
	if res.Windows, err = mergeWindows(parts, res.MeasuredS); err != nil {
		return nil, err
	}
	var measured []Window
	for _, w := range res.Windows {
		if !w.Warmup {
			measured = append(measured, w)
		}
	}
	if res.Stats, err = mergeStats(statsOf(parts, func(r *Result) *Stats { return &r.Stats }), figuresS); err != nil {
		return nil, err
	}
	res.Availability.Time = AvailabilityByTime(measured, res.WindowOK)
	if first.Warmup != nil {
		warm, err := mergeStats(statsOf(parts, func(r *Result) *Stats { return r.Warmup }), res.WarmupS)
		if err != nil {
			return nil, err
		}
		var warmWindows []Window
		for _, w := range res.Windows {
			if w.Warmup {
				warmWindows = append(warmWindows, w)
			}
		}
		warm.Availability.Time = AvailabilityByTime(warmWindows, res.WindowOK)
		res.Warmup = &warm
	}

	for i, w := range first.Workloads {
		var stats []*Stats
		var counts [][]WindowCount
		for _, p := range parts {
			stats = append(stats, &p.Workloads[i].Stats)
			counts = append(counts, p.Workloads[i].WindowCounts)
		}
		merged, windows, err := mergeScope(stats, counts, figuresS, res.WindowOK)
		if err != nil {
			return nil, fmt.Errorf("workload %s: %w", w.Name, err)
		}
		res.Workloads = append(res.Workloads, WorkloadResult{Name: w.Name, Model: w.Model, Stats: merged, WindowCounts: windows})
	}
	if res.Requests, err = mergeRequests(parts, figuresS, res.WindowOK); err != nil {
		return nil, err
	}

	res.Nodes, res.Fairness = mergeNodes(parts)
	if err := mergeSites(res, parts); err != nil {
		return nil, err
	}
	if res.Generator, err = mergeGenerators(parts); err != nil {
		return nil, err
	}
	if res.Apparatus, err = mergeApparatus(parts, res.Generator.SendLagMS); err != nil {
		return nil, err
	}

	reqs := make([]scenario.Requirement, 0, len(first.Requirements))
	for _, v := range first.Requirements {
		req, err := scenario.ParseRequirement(v.Text)
		if err != nil {
			return nil, fmt.Errorf("requirement %q of the parts: %w", v.Text, err)
		}
		reqs = append(reqs, req)
	}
	Evaluate(res, reqs)
	return res, nil
}

// checkParts insists on one complete set of segments of one run.
func checkParts(parts []*Result) error {
	if len(parts) == 0 {
		return fmt.Errorf("nothing to merge")
	}
	first := parts[0]
	n := 0
	seen := map[int]bool{}
	for i, p := range parts {
		k, pn, err := parseSegment(p.Segment)
		if err != nil {
			return fmt.Errorf("part %d: %w", i+1, err)
		}
		switch {
		case p.Scenario != first.Scenario:
			return fmt.Errorf("part %s is of scenario %q, part %s of %q", p.Segment, p.Scenario, first.Segment, first.Scenario)
		case p.Mode != first.Mode:
			return fmt.Errorf("part %s is %s, part %s %s: a simulated part and a live one are not one run", p.Segment, modeName(p), first.Segment, modeName(first))
		case p.Seed != first.Seed:
			return fmt.Errorf("part %s has seed %d, part %s seed %d: segments of one run share the seed", p.Segment, p.Seed, first.Segment, first.Seed)
		case p.DurationS != first.DurationS || p.WarmupS != first.WarmupS:
			return fmt.Errorf("part %s lasts %gs (warm-up %gs), part %s %gs (warm-up %gs)", p.Segment, p.DurationS, p.WarmupS, first.Segment, first.DurationS, first.WarmupS)
		case len(p.Workloads) != len(first.Workloads):
			return fmt.Errorf("part %s has %d workloads, part %s %d", p.Segment, len(p.Workloads), first.Segment, len(first.Workloads))
		case len(p.Requirements) != len(first.Requirements):
			return fmt.Errorf("part %s has %d requirements, part %s %d", p.Segment, len(p.Requirements), first.Segment, len(first.Requirements))
		case (p.Warmup == nil) != (first.Warmup == nil):
			return fmt.Errorf("part %s and part %s disagree on the warm-up", p.Segment, first.Segment)
		}
		for j := range p.Workloads {
			if p.Workloads[j].Name != first.Workloads[j].Name {
				return fmt.Errorf("part %s has workload %q where part %s has %q", p.Segment, p.Workloads[j].Name, first.Segment, first.Workloads[j].Name)
			}
		}
		if i == 0 {
			n = pn
		} else if pn != n {
			return fmt.Errorf("part %s is a segment of %d, part %s of %d", p.Segment, pn, first.Segment, n)
		}
		if seen[k] {
			return fmt.Errorf("segment %s is given twice", p.Segment)
		}
		seen[k] = true
	}
	var missing []string
	for k := 1; k <= n; k++ {
		if !seen[k] {
			missing = append(missing, fmt.Sprintf("%d/%d", k, n))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("segments %s are missing: a merged result needs every segment of the run", strings.Join(missing, ", "))
	}
	return nil
}

// modeName names a part's mode in a message.
func modeName(r *Result) string {
	if r.Mode == "" {
		return "live"
	}
	return r.Mode
}

func parseSegment(s string) (k, n int, err error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, errK := strconv.Atoi(ks)
	n, errN := strconv.Atoi(ns)
	if s == "" || !ok || errK != nil || errN != nil || k < 1 || k > n {
		return 0, 0, fmt.Errorf("not a segment of a run (segment %q): run each part with --segment K/N", s)
	}
	return k, n, nil
}

func statsOf(parts []*Result, get func(*Result) *Stats) []*Stats {
	out := make([]*Stats, len(parts))
	for i, p := range parts {
		out[i] = get(p)
	}
	return out
}

// mergeStats adds the parts' counts and histograms and derives the rest
// over figuresS seconds. Availability.Time is left to the caller, who has
// the windows.
func mergeStats(parts []*Stats, figuresS float64) (Stats, error) {
	out := Stats{Errors: map[string]int64{}}
	lat, svc := NewHistogram(), NewHistogram()
	// The station's account is merged only when every part that measured
	// a request has one: it must hold a value for each merged request.
	sojourn, service := NewHistogram(), NewHistogram()
	stationOfEach, outsideMax := false, 0.0
	for _, p := range parts {
		if p.Station != nil {
			stationOfEach = true
			outsideMax = math.Max(outsideMax, p.Station.OutsideMaxMS)
		}
	}
	for _, p := range parts {
		out.Totals.Add(p.Totals)
		for class, n := range p.Errors {
			out.Errors[class] += n
		}
		out.StatusCodes = addCounts(out.StatusCodes, p.StatusCodes)
		out.ErrorSamples = mergeErrorSamples(out.ErrorSamples, p.ErrorSamples)
		if err := mergeEncoded(lat, p.Histograms.Latency); err != nil {
			return out, err
		}
		if err := mergeEncoded(svc, p.Histograms.ServiceLatency); err != nil {
			return out, err
		}
		switch {
		case p.Station == nil || p.Histograms.StationSojourn == "" || p.Histograms.StationService == "":
			stationOfEach = stationOfEach && p.LatencyMS.Count == 0
		case stationOfEach:
			if err := mergeEncoded(sojourn, p.Histograms.StationSojourn); err != nil {
				return out, err
			}
			if err := mergeEncoded(service, p.Histograms.StationService); err != nil {
				return out, err
			}
		}
	}
	out.LatencyMS, out.ServiceLatencyMS = PercentilesOf(lat), PercentilesOf(svc)
	var err error
	if stationOfEach {
		if out.Station, err = StationOf(sojourn, service, outsideMax, &out.Histograms); err != nil {
			return out, err
		}
	}
	if out.Histograms.Latency, err = EncodeHistogram(lat); err != nil {
		return out, err
	}
	if out.Histograms.ServiceLatency, err = EncodeHistogram(svc); err != nil {
		return out, err
	}
	out.Derive(figuresS)
	return out, nil
}

// mergeEncoded adds an encoded histogram into h. A part whose figures have
// samples but no histogram cannot be merged exactly, and is refused.
func mergeEncoded(h *hdrhistogram.Histogram, encoded string) error {
	if encoded == "" {
		return nil
	}
	part, err := DecodeHistogram(encoded)
	if err != nil {
		return fmt.Errorf("decoding a histogram: %w", err)
	}
	h.Merge(part)
	return nil
}

func sumCounts(parts [][]WindowCount) []WindowCount {
	var out []WindowCount
	for _, p := range parts {
		for t, c := range p {
			for len(out) <= t {
				out = append(out, WindowCount{})
			}
			out[t][0] += c[0]
			out[t][1] += c[1]
		}
	}
	return out
}

// mergeWindows adds the parts' windows second by second; each window's
// latency summary comes from the sum of its histograms.
func mergeWindows(parts []*Result, measuredS float64) ([]Window, error) {
	var out []Window
	var hists []*hdrhistogram.Histogram
	utilN := []map[string]int{}
	for _, p := range parts {
		for _, w := range p.Windows {
			for len(out) <= w.T {
				out = append(out, Window{T: len(out)})
				hists = append(hists, nil)
				utilN = append(utilN, nil)
			}
			m := &out[w.T]
			m.Scheduled += w.Scheduled
			m.Succeeded += w.Succeeded
			m.Failed += w.Failed
			m.Dropped += w.Dropped
			m.CutAtEnd += w.CutAtEnd
			m.Exhausted += w.Exhausted
			m.Warmup = m.Warmup || w.Warmup
			m.Errors = addCounts(m.Errors, w.Errors)
			m.Nodes = addCounts(m.Nodes, w.Nodes)
			m.NodeFailed = addCounts(m.NodeFailed, w.NodeFailed)
			m.Sites = addCounts(m.Sites, w.Sites)
			for name, u := range w.Utilisation {
				if m.Utilisation == nil {
					m.Utilisation = map[string]float64{}
					utilN[w.T] = map[string]int{}
				}
				m.Utilisation[name] += u
				utilN[w.T][name]++
			}
			if w.Histogram != "" {
				if hists[w.T] == nil {
					hists[w.T] = NewHistogram()
				}
				if err := mergeEncoded(hists[w.T], w.Histogram); err != nil {
					return nil, fmt.Errorf("window %d: %w", w.T, err)
				}
			}
		}
	}
	for i := range out {
		w := &out[i]
		for name, n := range utilN[i] {
			w.Utilisation[name] /= float64(n)
		}
		if h := hists[i]; h != nil {
			w.LatencyMS = WindowLatencyOf(h)
			var err error
			if w.Histogram, err = EncodeHistogram(h); err != nil {
				return nil, err
			}
		}
		if span := min(1, measuredS-float64(i)); span > 0 {
			w.ThroughputRPS = float64(w.Succeeded) / span
		}
	}
	return out, nil
}

func addCounts[K comparable](dst, src map[K]int64) map[K]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[K]int64{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// mergeNodes adds the requests each part saw per node; utilisation, which
// each part measured on its own, is averaged over the parts that report it;
// a node's pool and role are the first part's, as the faults are.
func mergeNodes(parts []*Result) ([]Node, float64) {
	byName := map[string]*Node{}
	reported := map[string]int{}
	var total int64
	for _, p := range parts {
		for _, n := range p.Nodes {
			m := byName[n.Name]
			if m == nil {
				m = &Node{Name: n.Name, Weight: n.Weight, Pool: n.Pool, Role: n.Role}
				byName[n.Name] = m
			}
			m.Requests += n.Requests
			total += n.Requests
			if n.Utilisation > 0 {
				m.Utilisation += n.Utilisation
				reported[n.Name]++
			}
		}
	}
	nodes := make([]Node, 0, len(byName))
	for name, n := range byName {
		if k := reported[name]; k > 0 {
			n.Utilisation /= float64(k)
		}
		nodes = append(nodes, *n)
	}
	return nodes, FinishNodes(nodes, total)
}

// mergeGenerators: the whole run's generator saturated if any part did.
func mergeGenerators(parts []*Result) (Generator, error) {
	var g Generator
	lag := NewHistogram()
	var reasons []string
	var sent int64
	for _, p := range parts {
		pg := p.Generator
		if err := mergeEncoded(lag, pg.SendLagHistogram); err != nil {
			return g, err
		}
		g.Saturated = g.Saturated || pg.Saturated
		g.InflightBound = g.InflightBound || pg.InflightBound
		if pg.Reason != "" {
			reasons = append(reasons, "segment "+p.Segment+": "+pg.Reason)
		}
		g.CPUSeconds += pg.CPUSeconds
		for name, engine := range pg.Engines {
			if g.Engines == nil {
				g.Engines = map[string]string{}
			}
			if was, ok := g.Engines[name]; ok && was != engine {
				engine = "mixed"
			}
			g.Engines[name] = engine
		}
		if pg.CPUPerRequestUS > 0 {
			sent += int64(pg.CPUSeconds / pg.CPUPerRequestUS * 1e6)
		}
	}
	g.Reason = strings.Join(reasons, "; ")
	g.SendLagMS = PercentilesOf(lag)
	var err error
	if g.SendLagHistogram, err = EncodeHistogram(lag); err != nil {
		return g, err
	}
	if sent > 0 {
		g.CPUPerRequestUS = g.CPUSeconds / float64(sent) * 1e6
	}
	return g, nil
}

// mergeApparatus combines the parts' apparatus (each part ran on its own
// machine or process): hiccup histograms merged, each window the worst of
// the parts' (delays, pressure, steal) with their CPU and switches added,
// then assessed again against the merged send lag. nil when no part has
// one.
func mergeApparatus(parts []*Result, sendLag Percentiles) (*Apparatus, error) {
	var out *Apparatus
	hiccup, sutHiccup := NewHistogram(), NewHistogram()
	haveSUT := false
	for _, p := range parts {
		a := p.Apparatus
		if a == nil {
			continue
		}
		if out == nil {
			out = &Apparatus{IntervalMS: a.IntervalMS, CPUPressure: -1, Steal: -1}
		}
		if err := mergeEncoded(hiccup, a.HiccupHistogram); err != nil {
			return nil, err
		}
		if a.SUTHiccupMS != nil {
			haveSUT = true
			if err := mergeEncoded(sutHiccup, a.SUTHiccupHistogram); err != nil {
				return nil, err
			}
		}
		out.CPUSeconds += a.CPUSeconds
		out.LoopSamples += a.LoopSamples
		out.Processors += a.Processors
		out.VoluntarySwitches += a.VoluntarySwitches
		out.InvoluntarySwitches += a.InvoluntarySwitches
		out.CPUPressure = max(out.CPUPressure, a.CPUPressure)
		out.Steal = max(out.Steal, a.Steal)
		out.LoadAverage = max(out.LoadAverage, a.LoadAverage)
		for _, w := range a.Windows {
			for len(out.Windows) <= w.T {
				out.Windows = append(out.Windows, ApparatusWindow{T: len(out.Windows), CPUPressure: -1, Steal: -1})
			}
			m := &out.Windows[w.T]
			m.HiccupP99, m.HiccupMax = max(m.HiccupP99, w.HiccupP99), max(m.HiccupMax, w.HiccupMax)
			m.SUTHiccupP99, m.SUTHiccupMax = max(m.SUTHiccupP99, w.SUTHiccupP99), max(m.SUTHiccupMax, w.SUTHiccupMax)
			m.SendLagP50 = max(m.SendLagP50, w.SendLagP50)
			m.SendLagP99, m.SendLagMax = max(m.SendLagP99, w.SendLagP99), max(m.SendLagMax, w.SendLagMax)
			m.Late += w.Late
			m.CPUSeconds += w.CPUSeconds
			m.InvoluntarySwitches += w.InvoluntarySwitches
			m.CPUPressure, m.Steal = max(m.CPUPressure, w.CPUPressure), max(m.Steal, w.Steal)
		}
	}
	if out == nil {
		return nil, nil
	}
	var err error
	out.HiccupMS = PercentilesOf(hiccup)
	if out.HiccupHistogram, err = EncodeHistogram(hiccup); err != nil {
		return nil, err
	}
	if haveSUT {
		p := PercentilesOf(sutHiccup)
		out.SUTHiccupMS = &p
		if out.SUTHiccupHistogram, err = EncodeHistogram(sutHiccup); err != nil {
			return nil, err
		}
	}
	if out.Processors > 0 {
		var wall float64
		for _, p := range parts {
			wall = max(wall, p.MeasuredS)
		}
		if wall > 0 {
			out.CPUShare = out.CPUSeconds / (wall * float64(out.Processors))
		}
	}
	out.Assess(sendLag)
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
