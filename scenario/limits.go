package scenario

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Limits on what a scenario may ask for. Each is what a run on one machine
// can actually do (so validate rejects what run could not survive), read
// by Validate and by the loader, and listed in docs/scenario.md (a test
// keeps that table true). Concurrency is bounded by the machine instead:
// see Machine.MaxConcurrency.
const (
	// MaxFileBytes: a scenario is a few KB; the YAML library needs about
	// 300 bytes of memory per byte of input, so this keeps validate of any
	// file under 200 MB.
	MaxFileBytes = 256 << 10
	// MaxDepth: a scenario nests 7 levels at most; the YAML library's cost
	// grows faster than linearly with depth.
	MaxDepth = 32
	// MaxMappingKeys: the YAML library's cost grows with the square of a
	// mapping's key count (10,000 keys take 400 MB); a scenario's largest
	// mapping (headers) has a handful.
	MaxMappingKeys = 256
	// MaxValues bounds the values of the document with aliases expanded:
	// an alias bomb, or a file of many tiny values, decodes into gigabytes.
	MaxValues = 1 << 16
	// MaxWorkloads: each workload has its histograms per second and its
	// scheduler; a scenario has a few use cases.
	MaxWorkloads = 64
	// MaxRequests per workload (requests or session steps): each is
	// serialised once per target.
	MaxRequests = 1024
	// MaxTargets: target urls; each has its connection pool.
	MaxTargets = 64
	// MaxReplicas: each proxy replica runs an event loop per processor, on
	// a thread of its own.
	MaxReplicas = 32
	// MaxBackends across the pools and add-backend faults: each is a
	// listener, a station and health state in every replica.
	MaxBackends = 1024
	// MaxWorkers per backend (and a degrade fault's workers): a worker is
	// busy only with a request in flight, which holds a connection; no
	// machine holds more.
	MaxWorkers = 100_000
	// MaxQueue: a backend's queue, and the proxy's admission max_inflight
	// and queue. A waiting request holds a connection, as a busy worker does.
	MaxQueue = 100_000
	// MaxRate per workload (rate, stages, and the proxy's rate_limit): ten
	// times what the generator sends on one machine; arrivals past what it
	// can send are drawn and dropped, and cost time even so.
	MaxRate = 1_000_000
	// MaxWeight of a request or a backend: weights are summed, and the
	// strategies' arithmetic must not overflow.
	MaxWeight = 1_000_000
	// MaxBodyFileBytes: a body_file is held in memory for the whole run.
	MaxBodyFileBytes = 16 << 20
	// MaxDataFileBytes: a data source's rows are held in memory for the whole run.
	MaxDataFileBytes = 32 << 20
	// MaxResponseBytes: a backend's response size; the body is streamed,
	// but a larger one cannot be sent within any request's timeout.
	MaxResponseBytes = 1 << 30
	// MaxHeaderLimit: the proxy's limits.max_header_bytes is a buffer per
	// connection.
	MaxHeaderLimit = 1 << 20
	// MaxConcurrentStreams bounds an HTTP/2 connection's open streams at
	// the proxy.
	MaxConcurrentStreams = 10000
	// MaxConcurrencyCeiling caps concurrency whatever the machine: beyond
	// a million connections, split the load over machines with --segment.
	MaxConcurrencyCeiling = 1_000_000
)

// Concurrency costs, for Machine.MaxConcurrency.
const (
	// fdReserve is the open files a run needs besides connections:
	// listeners, epoll and timer descriptors, the spill file, reports.
	fdReserve = 512
	// connBytes is what one connection of a run may cost in memory,
	// generator and built-in SUT together: goroutine stacks, buffers,
	// kernel socket buffers. Measured: 4,872 closed-loop users on the
	// built-in SUT peaked at 140 MiB in 200 ms and 310 MiB in 1 s (about
	// 65 KiB a user); twice that leaves room for larger buffers.
	connBytes = 128 << 10
)

// Limit is one bound on what a scenario may ask for, for the docs.
type Limit struct {
	Name string // the fields it bounds
	Max  int64
	Unit string // "", "/s" or "bytes"
	Why  string
}

// String writes the bound as the docs do: "256KiB", "1000000/s", "32".
func (l Limit) String() string {
	switch l.Unit {
	case "bytes":
		return Size(l.Max).String()
	case "/s":
		return strconv.FormatInt(l.Max, 10) + "/s"
	}
	return strconv.FormatInt(l.Max, 10)
}

// The fixed limits, each with its reason: what validate says and the docs
// list.
var (
	limitFileSize  = Limit{"scenario file size", MaxFileBytes, "bytes", "a scenario is a few KB, and parsing costs about 300 bytes of memory per byte of YAML"}
	limitDepth     = Limit{"nesting depth", MaxDepth, "", "a scenario nests 7 levels at most, and deeper nesting costs the YAML parser more than linearly"}
	limitKeys      = Limit{"keys in one mapping", MaxMappingKeys, "", "the YAML parser's cost grows with the square of a mapping's keys"}
	limitValues    = Limit{"values, aliases expanded", MaxValues, "", "a scenario needs far fewer; an alias bomb or a file of tiny values decodes into gigabytes"}
	limitWorkloads = Limit{"workloads", MaxWorkloads, "", "each has its scheduler and per-second histograms"}
	limitRequests  = Limit{"requests or session steps per workload", MaxRequests, "", "each is serialised once per target"}
	limitTargets   = Limit{"target urls", MaxTargets, "", "each has its own connection pool"}
	limitReplicas  = Limit{"sut.proxy.replicas", MaxReplicas, "", "each replica runs an event loop per processor on a thread of its own"}
	limitBackends  = Limit{"backends (pools and add-backend)", MaxBackends, "", "each is a listener, a station, and health state in every replica"}
	limitWorkers   = Limit{"workers (backend, degrade)", MaxWorkers, "", "a busy worker serves a request in flight, which holds a connection"}
	limitQueue     = Limit{"queue, admission max_inflight and queue", MaxQueue, "", "a waiting request holds a connection"}
	limitRate      = Limit{"rate, stages, rate_limit.rate and burst", MaxRate, "/s", "ten times what one machine sends; arrivals it cannot send are still drawn, one by one"}
	limitWeight    = Limit{"weight (request, backend)", MaxWeight, "", "weights are summed by the strategies"}
	limitBodyFile  = Limit{"body_file size", MaxBodyFileBytes, "bytes", "a body is held in memory for the whole run"}
	limitDataFile  = Limit{"data file size", MaxDataFileBytes, "bytes", "a data source's rows are held in memory for the whole run"}
	limitResponse  = Limit{"response_size values, limits.max_body_bytes", MaxResponseBytes, "bytes", "a larger body cannot be sent within a timeout"}
	limitHeader    = Limit{"limits.max_header_bytes", MaxHeaderLimit, "bytes", "a buffer of that size per connection"}
	limitStreams   = Limit{"http2.max_concurrent_streams", MaxConcurrentStreams, "", "each open stream is a request in flight at the proxy, with its buffers"}
	limitCeiling   = Limit{"concurrency, whatever the machine", MaxConcurrencyCeiling, "", "past a million connections, split the load over machines with --segment"}
)

// StaticLimits lists the bounds that do not depend on the machine, in the
// order of docs/scenario.md.
var StaticLimits = []Limit{limitFileSize, limitDepth, limitKeys, limitValues, limitWorkloads, limitRequests,
	limitTargets, limitReplicas, limitBackends, limitCalls, limitWorkers, limitQueue, limitRate, limitWeight,
	limitBodyFile, limitDataFile, limitResponse, limitHeader, limitStreams, limitCeiling, limitSites, limitRegions, limitDNSClients,
	limitWSMessages, limitWSSize}

// Machine is what bounds a run on this host.
type Machine struct {
	// OpenFiles is the hard limit on open files (RLIMIT_NOFILE): ilities
	// raises its soft limit to it, and every connection is a file.
	OpenFiles int64
	// Memory is the physical memory, or the cgroup's limit when lower, in bytes.
	Memory int64
	// CPUs are the logical CPUs, or the cgroup's limit when lower (rounded
	// up): the processors a run may have, whatever GOMAXPROCS says.
	CPUs int
}

// ThisMachine reads the machine's bounds once.
var ThisMachine = sync.OnceValue(readMachine)

// Where connections are open, per connection of the generator.
const (
	fdsBuiltin = 4 // generator, proxy (client and upstream side), backend
	fdsHybrid  = 2 // generator and backend; nginx or HAProxy have their own
	fdsTarget  = 1
)

// MaxConcurrency is the most requests a scenario may have in flight at
// once (the sum of its workloads' max_inflight and peak users): each holds
// a connection, which is fdsPerConn open files in this process and
// connBytes of memory, within the open-file limit (less a reserve), half
// the memory, and MaxConcurrencyCeiling.
func (m Machine) MaxConcurrency(fdsPerConn int) int64 {
	byFiles := (m.OpenFiles - fdReserve) / int64(max(fdsPerConn, 1))
	byMemory := m.Memory / 2 / connBytes
	return max(1, min(byFiles, byMemory, MaxConcurrencyCeiling))
}

// concurrencyWhy says which bound MaxConcurrency hit.
func (m Machine) concurrencyWhy(fdsPerConn int) string {
	n := m.MaxConcurrency(fdsPerConn)
	switch {
	case n == MaxConcurrencyCeiling:
		return limitCeiling.Why
	case n == m.Memory/2/connBytes:
		return fmt.Sprintf("each request in flight holds a connection, about %d KiB of memory, and half of this machine's %d MiB allows %d",
			connBytes>>10, m.Memory>>20, n)
	}
	return fmt.Sprintf("each request in flight holds a connection, %d open file(s) in this process%s, and this machine's open-file limit (RLIMIT_NOFILE %d, less %d kept for the run) allows %d",
		fdsPerConn, fdsWhere(fdsPerConn), m.OpenFiles, fdReserve, n)
}

func fdsWhere(fdsPerConn int) string {
	switch fdsPerConn {
	case fdsBuiltin:
		return " with the built-in SUT (generator, proxy both sides, backend)"
	case fdsHybrid:
		return " with a hybrid SUT (generator, backend)"
	}
	return ""
}

// fdsPerConn is how many open files one generator connection costs this
// process for the scenario's SUT.
func (s *Scenario) fdsPerConn() int {
	switch {
	case s.SUT == nil:
		return fdsTarget
	case s.SUT.Proxy.IsExternal():
		return fdsHybrid
	}
	return fdsBuiltin
}

// atMost reports a value over lim at path: what was expected, the value,
// and why.
func (v *validator) atMost(path string, got float64, lim Limit) bool {
	if got <= float64(lim.Max) {
		return true
	}
	field := lastElem(path)
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	v.addf(path, "expected %s at most %s, got %s: %s", field, lim, formatValue(got, lim.Unit), lim.Why)
	return false
}

// formatValue writes a value as the limits' messages show it; a huge one
// with an exponent.
func formatValue(x float64, unit string) string {
	s := formatNumber(x)
	if x >= 1e21 {
		s = strconv.FormatFloat(x, 'g', 6, 64)
	}
	switch unit {
	case "bytes":
		if x == float64(int64(x)) && x < 1<<62 {
			return Size(int64(x)).String()
		}
		return s + "B"
	case "/s":
		return s + "/s"
	}
	return s
}

// limits checks the scenario against StaticLimits and the machine's
// concurrency. It runs after the other checks; each value is checked once.
func (v *validator) limits(s *Scenario, m Machine) {
	if len(s.Workload) > MaxWorkloads {
		v.atMost("workload", float64(len(s.Workload)), limitWorkloads)
	}
	if s.Target != nil && len(s.Target.URLList()) > MaxTargets {
		v.atMost("target.urls", float64(len(s.Target.URLList())), limitTargets)
	}
	switch {
	case s.SUT != nil:
		v.sutLimits(s)
	case s.HasSites():
		v.sitesLimits(s)
	}
	fds := s.fdsPerConn()
	conc := Limit{Max: m.MaxConcurrency(fds), Why: m.concurrencyWhy(fds)}
	var total float64
	for i := range s.Workload {
		w := &s.Workload[i]
		path := fmt.Sprintf("workload[%d]", i)
		v.workloadLimits(path, w)
		n, field := float64(w.MaxInflight), path+".max_inflight"
		if w.Closed() {
			n, field = w.peakUsers(), path+".users"
			if len(w.Stages) > 0 {
				field = path + ".stages"
			}
		}
		if !v.atMost(field, n, conc) {
			total = -1 // one error is enough
		}
		if w.Client.MaxConnections > 0 {
			v.atMost(path+".client.max_connections", float64(w.Client.MaxConnections), conc)
		}
		if total >= 0 {
			total += n
		}
	}
	if total > float64(conc.Max) {
		v.addf("workload", "expected at most %d requests in flight across the workloads (max_inflight and users added up), got %s: %s",
			conc.Max, formatValue(total, ""), conc.Why)
	}
}

func (v *validator) sutLimits(s *Scenario) {
	v.backendsAtMost("sut.pools", v.topologyLimits(s.SUT)+v.faultLimits(s))
}

// topologyLimits checks one topology's proxy and backends, and returns how
// many backends its pools have.
func (v *validator) topologyLimits(sut *SUT) int {
	o := &sut.Proxy.ProxyOptions
	v.atMost("sut.proxy.replicas", float64(o.Replicas), limitReplicas)
	if a := o.Admission; a != nil {
		v.atMost("sut.proxy.admission.max_inflight", float64(a.MaxInflight), limitQueue)
		v.atMost("sut.proxy.admission.queue", float64(a.Queue), limitQueue)
	}
	if r := o.RateLimit; r != nil {
		v.atMost("sut.proxy.rate_limit.rate", float64(r.Rate), limitRate)
		v.atMost("sut.proxy.rate_limit.burst", float64(r.Burst), Limit{Max: MaxRate, Why: limitRate.Why})
	}
	v.atMost("sut.proxy.limits.max_header_bytes", float64(o.Limits.MaxHeaderBytes), limitHeader)
	v.atMost("sut.proxy.http2.max_concurrent_streams", float64(o.HTTP2.MaxConcurrentStreams), limitStreams)
	v.atMost("sut.proxy.limits.max_body_bytes", float64(o.Limits.MaxBodyBytes), limitResponse)
	backends := 0
	for i, p := range sut.Pools {
		for j, b := range p.Backends {
			backends++
			v.backendLimits(fmt.Sprintf("sut.pools[%d].backends[%d]", i, j), b)
		}
	}
	return backends
}

// faultLimits checks the faults' backends and workers, and returns how
// many backends add-backend starts.
func (v *validator) faultLimits(s *Scenario) int {
	backends := 0
	for i, f := range s.Faults {
		path := fmt.Sprintf("faults[%d]", i)
		if f.Kind == "add-backend" && f.Backend != nil {
			backends++
			v.backendLimits(path+".backend", *f.Backend)
		}
		v.atMost(path+".workers", float64(f.Workers), limitWorkers)
	}
	return backends
}

// backendsAtMost reports more backends than MaxBackends, at path.
func (v *validator) backendsAtMost(path string, backends int) {
	if backends > MaxBackends {
		v.addf(path, "expected at most %d backends (in the pools and added by faults), got %d: %s",
			MaxBackends, backends, limitBackends.Why)
	}
}

func (v *validator) backendLimits(path string, b Backend) {
	v.atMost(path+".workers", float64(b.Workers), limitWorkers)
	if b.Queue != nil {
		v.atMost(path+".queue", float64(*b.Queue), limitQueue)
	}
	v.atMost(path+".weight", float64(b.Weight), limitWeight)
	if d := b.ResponseSize; d != nil {
		for _, f := range []struct {
			name string
			size Size
		}{{"value", d.Value}, {"min", d.Min}, {"max", d.Max}, {"mean", d.Mean}, {"median", d.Median}, {"p99", d.P99}} {
			v.atMost(path+".response_size."+f.name, float64(f.size), limitResponse)
		}
	}
}

func (v *validator) workloadLimits(path string, w *Workload) {
	if n := len(w.Requests) + len(w.Session); n > MaxRequests {
		field := path + ".requests"
		if len(w.Session) > 0 {
			field = path + ".session"
		}
		v.atMost(field, float64(n), limitRequests)
	}
	for i, r := range w.Requests {
		v.atMost(fmt.Sprintf("%s.requests[%d].weight", path, i), float64(r.Weight), limitWeight)
	}
	if w.Closed() {
		return // stages hold user counts, checked as concurrency
	}
	v.atMost(path+".rate", float64(w.Rate), limitRate)
	for i, st := range w.Stages {
		sp := fmt.Sprintf("%s.stages[%d]", path, i)
		v.atMost(sp+".ramp_to", float64(st.RampTo), limitRate)
		v.atMost(sp+".hold", float64(st.Hold), limitRate)
	}
}

// peakUsers is a closed workload's largest user count, read from its
// fields (not its profile, whose arithmetic a huge count would overflow).
func (w *Workload) peakUsers() float64 {
	peak := float64(w.Users)
	for _, st := range w.Stages {
		peak = max(peak, float64(st.RampTo), float64(st.Hold))
	}
	return peak
}

// expectedAtMost is the message of a bound the loader finds, before there
// is a field to name: "expected at most 32 levels of nesting, found more
// here: why".
func expectedAtMost(lim Limit, what string) string {
	return fmt.Sprintf("expected at most %s %s, found more here: %s", lim, what, lim.Why)
}
