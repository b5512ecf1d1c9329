// Package report holds the result model of a run, the metric math, the
// evaluation of requirements into verdicts, and every renderer.
// It never starts a process.
package report

import (
	"time"

	"github.com/ilities/ilities/scenario"
)

// SchemaVersion is the version of the result.json format.
const SchemaVersion = 1

// ModeSimulated marks a result simulated on a virtual clock (Result.Mode):
// no network, no host, no apparatus; every figure is the model's.
const ModeSimulated = "simulated"

// Result is everything a run measured, as plain data. It is what
// result.json holds and what every renderer reads.
type Result struct {
	SchemaVersion int    `json:"schema_version"`
	Tool          string `json:"tool"` // "ilities <version>"
	Scenario      string `json:"scenario"`
	// Mode is ModeSimulated for a run of the built-in SUT on a virtual
	// clock (ilities simulate), "" for a live run.
	Mode string `json:"mode,omitempty"`
	Seed int64  `json:"seed"`
	// Target is the URL the load was sent to.
	Target string `json:"target"`
	// Strategy is the built-in proxy's balancing strategy ("" for an external target).
	Strategy string    `json:"strategy,omitempty"`
	Started  time.Time `json:"started"`
	// DurationS is the planned length of the run; MeasuredS what was measured
	// (shorter when the run was interrupted).
	DurationS  float64 `json:"duration_s"`
	MeasuredS  float64 `json:"measured_s"`
	Incomplete bool    `json:"incomplete"`
	// RunError is why the run could not be carried out (not a single
	// response came back, the SUT's process was lost), "" when it could:
	// such a run is invalid, and passes nothing (Decide).
	RunError string `json:"run_error,omitempty"`
	// WindowOK is the success ratio a window needed to count as available
	// (the scenario's window_ok), kept so that merged parts recompute
	// availability by time.
	WindowOK float64 `json:"window_ok,omitempty"`
	// Segment is "K/N" when this is one slice of a run (ilities run
	// --segment), to be combined with the others by ilities merge.
	Segment string `json:"segment,omitempty"`
	// Parts lists the segments a merged result was made of, and Starts
	// when each started its clock and whether together (MergeWith).
	Parts  []string       `json:"parts,omitempty"`
	Starts *SegmentStarts `json:"starts,omitempty"`
	// WarmupS is the warm-up at the start of the run, in whole seconds:
	// its figures are in Warmup, its windows are marked, and everything
	// else (figures, workloads, verdicts) covers the rest of the run.
	WarmupS float64 `json:"warmup_s,omitempty"`
	Warmup  *Stats  `json:"warmup,omitempty"`

	// Verdict is "pass" when every requirement is met, "fail" when one was
	// missed for certain, "inconclusive" when none was missed for certain
	// but the apparatus's own delay could have decided one (see Evaluate
	// and docs/verdicts.md). VerdictReason names the figures that made it so.
	Verdict       string    `json:"verdict"`
	VerdictReason string    `json:"verdict_reason,omitempty"`
	Requirements  []Verdict `json:"requirements"`
	// Explanations say why each failed or inconclusive requirement missed:
	// when it was breached and what moved with it (Explain, set by Decide).
	Explanations []Explanation `json:"explanations,omitempty"`

	// The whole run's figures; each workload has the same figures in Workloads.
	Stats

	Workloads []WorkloadResult `json:"workloads"`
	// Requests are the figures of each request name (a step or an entry of
	// a request mix), in the order the scenario declares them.
	Requests []RequestResult `json:"requests,omitempty"`
	Nodes    []Node          `json:"nodes"`
	// Fairness is Jain's index over (share / weight) of the nodes, in (0,1].
	Fairness float64 `json:"fairness,omitempty"`
	// Topology is the built-in SUT's shape (TopologyOf); nil for an
	// external target.
	Topology *Topology `json:"topology,omitempty"`
	// Tiers are each pool's figures when pools call other pools (TiersOf).
	Tiers []Tier `json:"tiers,omitempty"`
	// Sites are each site's figures, and DNS the balancer between them,
	// when the scenario has several sites (sites.go).
	Sites  []Site  `json:"sites,omitempty"`
	DNS    *DNS    `json:"dns,omitempty"`
	Faults []Fault `json:"faults"`
	// Projection is the long-run availability projected from the topology
	// and the nodes' mtbf and mttr (see Projection); absent when no node
	// declares an mtbf with a time to repair.
	Projection *Projection `json:"projection,omitempty"`
	Windows    []Window    `json:"windows"`

	Generator Generator `json:"generator"`
	// Apparatus is the tool's account of its own delays and of the
	// machine's load (nil in results written before it existed).
	Apparatus *Apparatus `json:"apparatus,omitempty"`

	// Manifest is how the run was made: the scenario as written and the
	// machine it ran on.
	Manifest Manifest `json:"manifest"`

	// Diff is this run compared with a baseline run (run --baseline); its
	// verdict is part of the run's (Decide).
	Diff *Diff `json:"diff,omitempty"`

	// SinglePointsOfFailure are the built-in SUT's, read from its topology
	// (SinglePointsOfFailure): empty when it has none, nil (absent) for an
	// external target.
	SinglePointsOfFailure []SinglePoint `json:"single_points_of_failure,omitzero"`
}

// Stats are the figures of one scope: the whole run or one workload.
type Stats struct {
	Totals Totals `json:"totals"`
	// Errors counts failures by class: refused, reset, timeout, 5xx, 4xx, other.
	Errors map[string]int64 `json:"errors"`
	// ThroughputRPS is successful responses per second (goodput).
	ThroughputRPS float64 `json:"throughput_rps"`
	// RequestRateRPS is completed requests (succeeded + failed) per second.
	RequestRateRPS float64 `json:"request_rate_rps"`
	// TargetRPS is the mean scheduled arrival rate.
	TargetRPS float64 `json:"target_rps"`
	// ErrorRate is failed / scheduled.
	ErrorRate    float64      `json:"error_rate"`
	Availability Availability `json:"availability"`
	// LatencyMS is completion - intended send time; ServiceLatencyMS is
	// completion - actual send time. Both over completed requests.
	LatencyMS        Percentiles `json:"latency_ms"`
	ServiceLatencyMS Percentiles `json:"service_latency_ms"`
	// Station is the built-in backends' own account of the same requests;
	// nil when no answer carried one.
	Station *Station `json:"station_ms,omitempty"`
	// Histograms are the encoded HDR histograms (microseconds) behind the
	// percentiles, so parts of a run can be merged exactly.
	Histograms Histograms `json:"histograms"`
	// StatusCodes counts the responses by HTTP status code, success or
	// not; ErrorSamples keeps a few failures of each class of Errors with
	// what they said (see ErrorSample).
	StatusCodes  map[int]int64            `json:"status_codes,omitempty"`
	ErrorSamples map[string][]ErrorSample `json:"error_samples,omitempty"`
}

// Offered is what the target was offered: every arrival but those cut at
// the end. Error rate and availability are shares of it.
func (t Totals) Offered() int64 { return t.Scheduled - t.CutAtEnd - t.Exhausted }

// Totals is the accounting of arrivals:
// Scheduled = Succeeded + Failed + Dropped + CutAtEnd + Exhausted.
type Totals struct {
	Scheduled int64 `json:"scheduled"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	// Dropped counts arrivals not sent within max_lateness of their time.
	Dropped int64 `json:"dropped"`
	// CutAtEnd counts arrivals due before the end of the run and still
	// unsent when the run's end grace ran out: never offered to the target,
	// they count neither as its failures nor as the generator saturating.
	CutAtEnd int64 `json:"cut_at_end,omitempty"`
	// Exhausted counts arrivals of an open workload not sent because a data
	// source with when_exhausted: stop had handed out every row: never
	// offered to the target, like CutAtEnd.
	Exhausted int64 `json:"data_exhausted,omitempty"`
	// Late counts arrivals sent after their intended time by more than the
	// lateness tolerance (1ms); their latency includes the wait.
	Late int64 `json:"late"`
	// Held counts the arrivals that found every in-flight slot of their
	// workload busy, each held by a request the target had not answered,
	// and waited for one: those sent late, dropped or cut at the end (of
	// Late + Dropped + CutAtEnd, the ones the scenario's own max_inflight
	// delayed rather than the generator).
	Held int64 `json:"held,omitempty"`
}

// Availability by requests (succeeded / scheduled) and by time (fraction of
// one-second windows whose success ratio reached window_ok).
type Availability struct {
	Requests float64 `json:"requests"`
	Time     float64 `json:"time"`
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	Count  int64   `json:"count"`
	Min    float64 `json:"min"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"`
	P50    float64 `json:"p50"`
	P75    float64 `json:"p75"`
	P90    float64 `json:"p90"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p999"`
	P9999  float64 `json:"p9999"`
	Max    float64 `json:"max"`
}

// Histograms holds HDR histograms in their compressed, base64 encoding
// (hdrhistogram.Histogram.Encode), values in microseconds.
type Histograms struct {
	Latency        string `json:"latency,omitempty"`
	ServiceLatency string `json:"service_latency,omitempty"`
	StationSojourn string `json:"station_sojourn,omitempty"`
	StationService string `json:"station_service,omitempty"`
}

// Station is what the built-in backends measured of a scope's requests on
// their own clocks (their Server-Timing header): one value for each request
// of LatencyMS, 0 for a request no backend timed (another server's answer,
// an error). Sojourn is the time waiting for a worker and holding it,
// Service the holding alone; OutsideMaxMS is the longest time a timed
// request spent outside the backend (its latency less its sojourn). The
// tool's delays cannot lengthen a service, which is drawn, and lengthen a
// sojourn only by bunching the arrivals they delay, by at most
// OutsideMaxMS, so the verdicts read them as a lower bound of the latency
// the system itself made (docs/verdicts.md).
type Station struct {
	SojournMS    Percentiles `json:"sojourn"`
	ServiceMS    Percentiles `json:"service"`
	OutsideMaxMS float64     `json:"outside_max"`
}

// WorkloadResult is one workload's figures.
type WorkloadResult struct {
	Name string `json:"name"`
	// Model is "open" or "closed".
	Model string `json:"model,omitempty"`
	Stats
	// WindowCounts are this workload's arrivals and successes per second
	// (as Windows), so that merged parts recompute availability by time.
	WindowCounts []WindowCount `json:"window_counts,omitempty"`
}

// RequestResult is one request name's figures: its name (by default the
// method and the path as written, so that a thousand ids in paths stay one
// row) and the workload that sends it.
type RequestResult struct {
	Name     string `json:"name"`
	Workload string `json:"workload"`
	Stats
	// WindowCounts are as a workload's: its arrivals and successes per second.
	WindowCounts []WindowCount `json:"window_counts,omitempty"`
}

// WindowCount is one second of one workload: [offered, succeeded], where
// offered is scheduled less the arrivals cut at the end.
type WindowCount [2]int64

// Node is one node of the SUT as the generator saw it (by the response
// header naming the backend) and, for built-in backends, as it reports itself.
type Node struct {
	Name     string  `json:"name"`
	Requests int64   `json:"requests"`
	Share    float64 `json:"share"`
	Weight   float64 `json:"weight,omitempty"`
	// Utilisation is busy worker-time / (workers x wall time), when known.
	Utilisation float64 `json:"utilisation"`
	// Pool and, in a database, Role (RolePrimary, RolePromoted,
	// RoleReplica) are a built-in node's at the end of the run; its state
	// then is read from the faults (NodeStates).
	Pool string `json:"pool,omitempty"`
	Role string `json:"role,omitempty"`
}

// Fault is one fault of the timeline with its measured effects. AtS is the
// actual time the fault took effect and EndS the time it was lifted (0 when
// it lasted to the end), in seconds from the start of the run. A negative
// RecoveryTimeS or DetectionTimeS means it did not happen within the run.
type Fault struct {
	Kind           string  `json:"kind"`
	Node           string  `json:"node"`
	AtS            float64 `json:"at_s"`
	ForS           float64 `json:"for_s,omitempty"`
	EndS           float64 `json:"end_s,omitempty"`
	RecoveryTimeS  float64 `json:"recovery_time_s"`
	DetectionTimeS float64 `json:"detection_time_s"`
	// DetectedBy says how the detection was seen: the proxy's health event
	// reason (active check, passive ejection, ...) or "traffic" when the
	// proxy simply stopped sending requests to the node.
	DetectedBy string `json:"detected_by,omitempty"`
	// PlannedAtS is the fault's time in the scenario; AtS differs from it by
	// the timeline's lateness.
	PlannedAtS float64 `json:"planned_at_s"`
	// Error is why the fault could not be applied (it then had no effect).
	Error string `json:"error,omitempty"`
	// Site is the site a site-down fault took down ("" with one sut:).
	// RequestsLost counts the requests sent to it while it was down that
	// failed; FailoverTimeS runs from the fault until the last client
	// that sent one was answered with another site by the DNS (-1: one
	// was not before the fault was lifted). Both are site-down's alone,
	// and measured by simulate.
	Site          string   `json:"site,omitempty"`
	RequestsLost  *int64   `json:"requests_lost,omitempty"`
	FailoverTimeS *float64 `json:"failover_time_s,omitempty"`
}

// Target is what the fault acted on: its node, or the site site-down took
// down ("site" for the one topology of a sut:).
func (f Fault) Target() string {
	switch {
	case f.Kind != "site-down":
		return f.Node
	case f.Site != "":
		return f.Site
	}
	return "site"
}

// IsTopologyEvent reports whether the fault was a permanent change of the
// topology (see scenario.IsTopologyKind): nothing failed, nothing was there
// to detect.
func (f Fault) IsTopologyEvent() bool { return scenario.IsTopologyKind(f.Kind) }

// Window is one second of the run. Arrivals are placed in the window of
// their intended send time, so each window's accounting holds on its own.
type Window struct {
	// T is the window's start, in seconds from the start of the run.
	T         int   `json:"t"`
	Scheduled int64 `json:"scheduled"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	Dropped   int64 `json:"dropped"`
	// CutAtEnd counts the window's arrivals cut at the end (see Totals):
	// Scheduled = Succeeded + Failed + Dropped + CutAtEnd + Exhausted.
	CutAtEnd int64 `json:"cut_at_end,omitempty"`
	// Exhausted counts the window's arrivals not sent for want of data (see Totals).
	Exhausted int64 `json:"data_exhausted,omitempty"`
	// ThroughputRPS is Succeeded per second of window.
	ThroughputRPS float64          `json:"throughput_rps"`
	LatencyMS     WindowLatency    `json:"latency_ms"`
	Errors        map[string]int64 `json:"errors,omitempty"`
	// Nodes counts responses per node in this window, and NodeFailed
	// those of them that failed the request (an error status, a failed
	// expect): a node served Nodes - NodeFailed.
	Nodes      map[string]int64 `json:"nodes,omitempty"`
	NodeFailed map[string]int64 `json:"node_failed,omitempty"`
	// Sites counts the requests sent to each site in this window, by
	// their intended time, when the scenario has several.
	Sites map[string]int64 `json:"sites,omitempty"`
	// Utilisation is each built-in node's busy worker-time share in this
	// window (0..1), sampled from the nodes themselves.
	Utilisation map[string]float64 `json:"utilisation,omitempty"`
	// Proxy is the built-in proxy's per-backend view in this window (see
	// ProxyWindow), sampled once a second.
	Proxy map[string]ProxyWindow `json:"proxy,omitempty"`
	// Histogram is this window's latency histogram (encoded like
	// Histograms.Latency), for interval logs.
	Histogram string `json:"histogram,omitempty"`
	// Warmup marks a window of the warm-up: it is not part of the figures.
	Warmup bool `json:"warmup,omitempty"`
}

// WindowLatency is the compact latency summary of one window, in milliseconds.
type WindowLatency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Generator describes the health of the load generator itself: whether it
// sent arrivals on time.
type Generator struct {
	// SendLagMS is actual send - intended send time over sent requests.
	SendLagMS Percentiles `json:"send_lag_ms"`
	// Saturated is true when the generator could not keep up: arrivals
	// were dropped, or sent late in a sustained way (see
	// Generator saturation in docs/verdicts.md). Arrivals cut at the end do
	// not count.
	Saturated bool   `json:"saturated"`
	Reason    string `json:"reason,omitempty"`
	// InflightBound is set when the arrivals sent late, dropped or cut
	// mostly waited for an in-flight slot (Totals.Held): the scenario's
	// max_inflight, not the generator's speed, bounded the load offered.
	InflightBound bool `json:"inflight_bound,omitempty"`
	// SendLagHistogram is the encoded histogram behind SendLagMS (µs).
	SendLagHistogram string `json:"send_lag_histogram,omitempty"`
	// CPUSeconds is the CPU time (user + system) of the generating process
	// over the run, and CPUPerRequestUS that per request sent. With the
	// built-in SUT they include the SUT, which runs in the same process.
	CPUSeconds      float64 `json:"cpu_s,omitempty"`
	CPUPerRequestUS float64 `json:"cpu_per_request_us,omitempty"`
	// Engines names, by workload, what sent its requests: "event-loop"
	// (an epoll loop on a thread of its own) or "goroutines" (an open
	// loop's scheduler and workers, a closed loop's goroutine per virtual
	// user); "mixed" when merged segments differ. Absent for a simulation.
	Engines map[string]string `json:"engines,omitempty"`
}

// SaturationTitle names what kept the run from offering its load, for a
// report's banner, its verdict line and the sentence that calls it invalid:
// the generator (it could not keep up), or, with InflightBound, the
// scenario's max_inflight, every slot held by a request the target had not
// answered. Either makes the run invalid; only the first is the tool's.
func (g Generator) SaturationTitle() (banner, caveat, sentence string) {
	if g.InflightBound {
		return "LOAD HELD BY MAX_INFLIGHT", "load held by max_inflight, every slot awaiting the target",
			"its load was held by max_inflight, every slot awaiting the target"
	}
	return "GENERATOR SATURATED", "generator saturated", "the generator saturated"
}

// Verdict is one requirement evaluated against a result.
type Verdict struct {
	Text string `json:"text"`
	// Observed is the measured value in the requirement's unit
	// (ms, /s, fraction, count); Threshold likewise.
	Observed  float64 `json:"observed"`
	Threshold float64 `json:"threshold"`
	Unit      string  `json:"unit"`
	// Margin is how far the observed value is from failing, in the same
	// unit: positive when met, negative when missed.
	Margin float64 `json:"margin"`
	// Status is "pass", "fail" or "inconclusive"; Pass is Status == "pass".
	Status string `json:"status"`
	Pass   bool   `json:"pass"`
	// Note explains a value that could not be computed (e.g. no samples).
	Note string `json:"note,omitempty"`
	// Why explains an inconclusive verdict: the apparatus's figures that
	// could have decided it.
	Why string `json:"why,omitempty"`
	// Baseline is the baseline's figure a relative requirement's threshold
	// was computed from ("p99(latency) <= baseline * 1.10").
	Baseline *float64 `json:"baseline,omitempty"`
}
