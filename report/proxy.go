package report

// ProxyWindow is the built-in proxy's view of one backend during one window,
// sampled from the proxy's statistics at the window's end and summed over
// the proxy replicas. Counters are deltas over the window; gauges are
// readings at its end.
type ProxyWindow struct {
	// Requests forwarded to the backend; Failures without a response
	// (refused, reset, timeout); Rejected by admission control (503).
	Requests int64 `json:"requests"`
	Failures int64 `json:"failures"`
	Rejected int64 `json:"rejected,omitempty"`
	// Inflight and Queued at the window's end.
	Inflight int64 `json:"inflight"`
	Queued   int64 `json:"queued,omitempty"`
	// Healthy: every replica may pick it; Ejected: a replica ejected it.
	Healthy bool `json:"healthy"`
	Ejected bool `json:"ejected,omitempty"`
	// Weight is the effective weight (slow start included), averaged over
	// replicas.
	Weight float64 `json:"weight"`
	// LatencyEWMAMS is the proxy's moving average of the backend's time to
	// response headers, averaged over replicas.
	LatencyEWMAMS float64 `json:"latency_ewma_ms"`
	// HealthChanges and Ejections in this window.
	HealthChanges int64 `json:"health_changes,omitempty"`
	Ejections     int64 `json:"ejections,omitempty"`
}
