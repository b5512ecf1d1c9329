// Package live serves a run's figures to Prometheus while the run goes:
// Metrics follows the engine (runner.Observer) and the built-in SUT's
// sampler (run.NodeObserver), Server serves them at /metrics in the
// Prometheus text format. The result files stay the authority: live
// figures are for watching a run, not for judging it.
package live

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/runner"
)

// Bucket bounds, in seconds. Latency from 100 µs to 10 s and send lag from
// 10 µs to 1 s, in 1–2.5–5 steps: a p99 read from them is within a step,
// the result files hold the exact figures.
var (
	latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	sendLagBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
)

// Metrics holds what a run has measured so far as Prometheus metrics. The
// engine's collector feeds it (Observe, one goroutine, about once a
// second); scrapes read it through atomics, so neither waits on the other.
type Metrics struct {
	reg *prometheus.Registry

	scheduled, sent, succeeded, failed, dropped, cut, exhausted *prometheus.CounterVec
	errors, responses                                           *prometheus.CounterVec
	latency, sendLag                                            *prometheus.HistogramVec
	active                                                      prometheus.Gauge
	nodes                                                       *nodeCollector

	// workloads are the series of each workload, by Observation.Workload:
	// resolved once in Begin, so an observation costs no label lookup.
	workloads []workloadSeries
}

// workloadSeries are one workload's series. errors and responses gain a
// series on a class's or a status code's first observation.
type workloadSeries struct {
	name                                                        string
	scheduled, sent, succeeded, failed, dropped, cut, exhausted prometheus.Counter
	latency, sendLag                                            prometheus.Observer
	errors                                                      map[string]prometheus.Counter
	responses                                                   map[int]prometheus.Counter
}

var (
	_ runner.Observer  = (*Metrics)(nil)
	_ run.NodeObserver = (*Metrics)(nil)
)

// New returns empty metrics, with this process's own figures (CPU,
// memory, open files; the Go runtime's) beside them.
func New() *Metrics {
	perWorkload := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"workload"})
	}
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		scheduled: perWorkload("ilities_requests_scheduled_total", "Arrivals recorded: succeeded + failed + dropped + cut + data exhausted, the warm-up included."),
		sent:      perWorkload("ilities_requests_sent_total", "Requests sent and completed: succeeded + failed."),
		succeeded: perWorkload("ilities_requests_succeeded_total", "Requests whose response met the workload's expect."),
		failed:    perWorkload("ilities_requests_failed_total", "Requests sent that failed; ilities_request_errors_total says how."),
		dropped:   perWorkload("ilities_requests_dropped_total", "Arrivals not sent: no worker or connection free within max_lateness."),
		cut:       perWorkload("ilities_requests_cut_total", "Arrivals due before the end of the run and still unsent at its end."),
		exhausted: perWorkload("ilities_requests_data_exhausted_total", "Arrivals not sent because a data source with when_exhausted: stop had no row left."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ilities_request_errors_total", Help: "Failed requests by failure class (refused, reset, timeout, 5xx, 4xx, ...).",
		}, []string{"workload", "class"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ilities_responses_total", Help: "Responses by HTTP status code.",
		}, []string{"workload", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ilities_request_latency_seconds", Help: "Latency of the requests sent: completion − intended send time (open loop), − send time (closed loop).",
			Buckets: latencyBuckets,
		}, []string{"workload"}),
		sendLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ilities_send_lag_seconds", Help: "How late the generator sent open-loop arrivals: actual − intended send time.",
			Buckets: sendLagBuckets,
		}, []string{"workload"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ilities_run_active", Help: "1 while a run sends load, 0 once it is over.",
		}),
		nodes: &nodeCollector{},
	}
	m.reg.MustRegister(m.scheduled, m.sent, m.succeeded, m.failed, m.dropped, m.cut, m.exhausted,
		m.errors, m.responses, m.latency, m.sendLag, m.active, m.nodes,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return m
}

// Begin resolves the workloads' series (at zero, so that every one is
// there from the first scrape) and marks the run active. A later run's
// Begin carries the counters on.
func (m *Metrics) Begin(workloads []string) {
	m.workloads = make([]workloadSeries, len(workloads))
	for i, name := range workloads {
		m.workloads[i] = workloadSeries{
			name:      name,
			scheduled: m.scheduled.WithLabelValues(name),
			sent:      m.sent.WithLabelValues(name),
			succeeded: m.succeeded.WithLabelValues(name),
			failed:    m.failed.WithLabelValues(name),
			dropped:   m.dropped.WithLabelValues(name),
			cut:       m.cut.WithLabelValues(name),
			exhausted: m.exhausted.WithLabelValues(name),
			latency:   m.latency.WithLabelValues(name),
			sendLag:   m.sendLag.WithLabelValues(name),
			errors:    map[string]prometheus.Counter{},
			responses: map[int]prometheus.Counter{},
		}
	}
	m.active.Set(1)
}

// Observe counts one arrival. A per-request-name label would be resolved
// here the same way as the workload's, from the observation's request.
func (m *Metrics) Observe(o runner.Observation) {
	w := &m.workloads[o.Workload]
	w.scheduled.Inc()
	switch o.Fate {
	case runner.FateDropped:
		w.dropped.Inc()
		return
	case runner.FateCut:
		w.cut.Inc()
		return
	case runner.FateExhausted:
		w.exhausted.Inc()
		return
	case runner.FateSucceeded:
		w.succeeded.Inc()
	case runner.FateFailed:
		w.failed.Inc()
		w.errorsOf(m.errors, o.Class).Inc()
	}
	w.sent.Inc()
	w.latency.Observe(o.Latency.Seconds())
	if o.Paced {
		w.sendLag.Observe(o.SendLag.Seconds())
	}
	if o.Status != 0 {
		w.responsesOf(m.responses, o.Status).Inc()
	}
}

func (w *workloadSeries) errorsOf(vec *prometheus.CounterVec, class string) prometheus.Counter {
	c, ok := w.errors[class]
	if !ok {
		c = vec.WithLabelValues(w.name, class)
		w.errors[class] = c
	}
	return c
}

func (w *workloadSeries) responsesOf(vec *prometheus.CounterVec, code int) prometheus.Counter {
	c, ok := w.responses[code]
	if !ok {
		c = vec.WithLabelValues(w.name, strconv.Itoa(code))
		w.responses[code] = c
	}
	return c
}

// Nodes keeps the built-in SUT's latest reading for the next scrapes.
func (m *Metrics) Nodes(nodes []run.NodeFigures) { m.nodes.set(nodes) }

// end marks the run over.
func (m *Metrics) end() { m.active.Set(0) }

// nodeCollector shows the built-in SUT's latest reading. A reading is
// replaced whole, never changed, so a scrape holds the lock only to take it.
type nodeCollector struct {
	mu     sync.Mutex
	latest []run.NodeFigures
}

var nodeLabels = []string{"node", "pool"}

var (
	nodeRequests    = prometheus.NewDesc("ilities_sut_node_requests_total", "Requests the built-in proxy forwarded to the backend.", nodeLabels, nil)
	nodeFailures    = prometheus.NewDesc("ilities_sut_node_failures_total", "Requests forwarded to the backend that got no response (refused, reset, timeout).", nodeLabels, nil)
	nodeRejected    = prometheus.NewDesc("ilities_sut_node_rejected_total", "Requests for the backend the proxy's admission control rejected (503).", nodeLabels, nil)
	nodeServed      = prometheus.NewDesc("ilities_sut_node_served_total", "Requests the backend served, by its own count.", nodeLabels, nil)
	nodeInflight    = prometheus.NewDesc("ilities_sut_node_inflight_requests", "Requests in flight from the proxy to the backend.", nodeLabels, nil)
	nodeQueued      = prometheus.NewDesc("ilities_sut_node_queued_requests", "Requests waiting at the proxy for the backend (admission control).", nodeLabels, nil)
	nodeUtilisation = prometheus.NewDesc("ilities_sut_node_utilisation_ratio", "Busy share of the backend's workers over the last second.", nodeLabels, nil)
	nodeUp          = prometheus.NewDesc("ilities_sut_node_up", "1 while the backend runs, 0 while crashed or removed.", nodeLabels, nil)
	nodeHealthy     = prometheus.NewDesc("ilities_sut_node_healthy", "1 while every proxy replica may pick the backend.", nodeLabels, nil)
)

func (c *nodeCollector) set(nodes []run.NodeFigures) {
	c.mu.Lock()
	c.latest = nodes
	c.mu.Unlock()
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeRequests, nodeFailures, nodeRejected, nodeServed,
		nodeInflight, nodeQueued, nodeUtilisation, nodeUp, nodeHealthy} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	nodes := c.latest
	c.mu.Unlock()
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, n := range nodes {
		for _, v := range []struct {
			desc  *prometheus.Desc
			kind  prometheus.ValueType
			value float64
		}{
			{nodeRequests, prometheus.CounterValue, float64(n.Requests)},
			{nodeFailures, prometheus.CounterValue, float64(n.Failures)},
			{nodeRejected, prometheus.CounterValue, float64(n.Rejected)},
			{nodeServed, prometheus.CounterValue, float64(n.Served)},
			{nodeInflight, prometheus.GaugeValue, float64(n.Inflight)},
			{nodeQueued, prometheus.GaugeValue, float64(n.Queued)},
			{nodeUtilisation, prometheus.GaugeValue, n.Utilisation},
			{nodeUp, prometheus.GaugeValue, one(n.Up)},
			{nodeHealthy, prometheus.GaugeValue, one(n.Healthy)},
		} {
			ch <- prometheus.MustNewConstMetric(v.desc, v.kind, v.value, n.Name, n.Pool)
		}
	}
}
