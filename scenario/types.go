// Package scenario is the scenario model: a YAML file loaded into typed
// structs, given defaults and validated, with every error naming
// file:line:column and what was expected.
package scenario

// Scenario is one scenario file: the system under test (built-in SUT or an
// external target), the workload, and the requirements.
type Scenario struct {
	Name string `yaml:"name"`
	// Seed makes every random choice of a run reproducible.
	Seed int64 `yaml:"seed"`
	// Duration of the measured run.
	Duration Duration `yaml:"duration"`
	// WindowOK is the success ratio a one-second window needs to count as
	// available (availability by time). Default 99%.
	WindowOK Percent `yaml:"window_ok"`
	// Warmup is the first part of the run: load is applied, but what it
	// measures is reported apart and left out of the verdicts.
	Warmup Duration `yaml:"warmup"`

	SUT    *SUT    `yaml:"sut"`
	Target *Target `yaml:"target"`
	// Sites are several topologies behind DNS, instead of one sut:; the
	// clients come from Regions and resolve through DNS (sites.go).
	Sites   []Site   `yaml:"sites"`
	Regions []Region `yaml:"regions"`
	DNS     *DNS     `yaml:"dns"`

	Workload []Workload `yaml:"workload"`
	// Data are the test data sources templates read (data.go).
	Data []DataSource `yaml:"data"`
	// Faults is the fault timeline (see faults.go).
	Faults       []Fault       `yaml:"faults"`
	Requirements []Requirement `yaml:"requirements"`

	// File is the path the scenario was loaded from ("" when parsed from bytes).
	File string `yaml:"-"`
	// AllowPaths are folders, besides the scenario file's own, that files
	// it names (body_file) may be in: --allow-paths.
	AllowPaths []string `yaml:"-"`

	// places is where Parse found each value (ErrorAt); nil for a
	// scenario built in code.
	places *places
}

// SUT describes the built-in system under test: a reverse proxy in front of
// simulated backends, all in this process.
type SUT struct {
	// Listen is the proxy's listen address. Default 127.0.0.1:0.
	Listen string `yaml:"listen"`
	Proxy  Proxy  `yaml:"proxy"`
	Pools  []Pool `yaml:"pools"`
}

// Proxy configures the built-in reverse proxy.
type Proxy struct {
	// Strategy is the balancing strategy name (see balancer.Names). Default round-robin.
	Strategy string `yaml:"strategy"`
	// Timeout bounds one upstream exchange. Default 30s.
	Timeout Duration `yaml:"timeout"`
	// ProxyOptions: replicas, health, retries, admission, limits... (proxy.go).
	ProxyOptions `yaml:",inline"`
}

// Pool is a named group of backends.
type Pool struct {
	Name     string    `yaml:"name"`
	Match    Match     `yaml:"match"`
	Backends []Backend `yaml:"backends"`
	// Calls are what each request a backend of this pool serves asks of
	// other pools, in order, holding its worker (tiers.go).
	Calls []Call `yaml:"calls"`
	// Strategy is how a caller picks among a tier's backends (client-side
	// balancing; see balancer.Names). Default round-robin. Only for a tier:
	// the proxy's strategy balances the pools it routes to.
	Strategy string `yaml:"strategy"`
	// Connections bounds the connections each calling backend keeps to
	// this tier: calls past it wait, holding their worker. 0: as many as
	// the caller's workers. Only for a tier.
	Connections int `yaml:"connections"`
	// Database makes the pool a primary and its replicas.
	Database *Database `yaml:"database"`
	// Cache makes the pool a cache that answers a share of requests alone.
	Cache *Cache `yaml:"cache"`
	// Needs is how many of its backends must be up for the pool to serve
	// its load (k of k-of-n): read by the availability projection and the
	// single points of failure (availability.go). 0: one.
	Needs int `yaml:"needs"`
}

// Match selects which requests go to a pool.
type Match struct {
	Host       string `yaml:"host"`
	PathPrefix string `yaml:"path_prefix"`
}

// Backend is one simulated backend: a queueing station with Workers service
// slots and a bounded FIFO queue.
type Backend struct {
	Name string `yaml:"name"`
	// Workers is the number of requests served at once. Default 1.
	Workers int `yaml:"workers"`
	// Queue bounds how many requests wait for a worker; past it the backend
	// answers 503. Default 1024. Zero after defaults means "no waiting room".
	Queue *int `yaml:"queue"`
	// Weight for weighted strategies. Default 1.
	Weight      int          `yaml:"weight"`
	ServiceTime Distribution `yaml:"service_time"`
	// Listen is the backend's listen address. Default 127.0.0.1:0.
	Listen string `yaml:"listen"`
	// CPUBurn makes a worker compute for its whole service time instead of
	// sleeping, so the backend's utilisation is physical CPU use.
	CPUBurn bool `yaml:"cpu_burn"`
	// ResponseSize is the size distribution of response bodies. Default: a
	// short text line.
	ResponseSize *SizeDistribution `yaml:"response_size"`
	// StartupDelay is the cold start: after (re)starting, the backend
	// answers 503 for this long.
	StartupDelay Duration `yaml:"startup_delay"`
	// Sessions makes the backend issue a session cookie and answer 409 to a
	// session it does not know.
	Sessions bool `yaml:"sessions"`
	// MTBF is the mean time between failures, for the availability projection.
	MTBF Duration `yaml:"mtbf"`
	// MTTR is the mean time to repair, for the availability projection; a
	// declared one wins over the node's time down in the run.
	MTTR Duration `yaml:"mttr"`
}

// Distribution is a random duration: service time, think time, added latency.
//
//	{dist: constant, value: 5ms}
//	{dist: uniform, min: 1ms, max: 9ms}
//	{dist: exponential, mean: 5ms}
//	{dist: lognormal, median: 4ms, p99: 40ms}
type Distribution struct {
	Dist   string   `yaml:"dist"`
	Value  Duration `yaml:"value"`
	Min    Duration `yaml:"min"`
	Max    Duration `yaml:"max"`
	Mean   Duration `yaml:"mean"`
	Median Duration `yaml:"median"`
	P99    Duration `yaml:"p99"`
}

// Target is an external system under test reached by URL.
type Target struct {
	URL string `yaml:"url"`
	// URLs are more addresses of the same target (replicas): the load is
	// spread over all of them, and a client fails over when one is down.
	URLs []string `yaml:"urls"`
}

// Workload is one use case: a stream of requests with its own load model.
// It is a scope for requirements ("... for browse").
type Workload struct {
	Name string `yaml:"name"`
	// Model is "open" (arrivals scheduled by a clock) or "closed" (virtual
	// users: request, wait for the answer, think, repeat). Default open.
	Model string `yaml:"model"`
	// Users is a closed workload's constant number of virtual users;
	// exclusive with Stages (which then ramp and hold user counts).
	Users int `yaml:"users"`
	// ThinkTime is what a virtual user waits after each response.
	ThinkTime Distribution `yaml:"think_time"`
	// Session is the ordered list of steps each virtual user runs per
	// iteration, with a cookie jar of its own; exclusive with Requests.
	Session []Request `yaml:"session"`
	// Client is how the workload talks to the target (protocol, keep-alive,
	// TLS verification, connections per target).
	Client Client `yaml:"client"`
	// Arrival is "uniform" (evenly spaced) or "poisson". Default uniform.
	Arrival string `yaml:"arrival"`
	// Rate is a constant arrival rate for the whole run; exclusive with Stages.
	Rate Rate `yaml:"rate"`
	// Stages shape the rate over time: ramps and holds.
	Stages []Stage `yaml:"stages"`
	// Requests is the request mix; one is picked per arrival by weight.
	// Default: one GET /.
	Requests []Request `yaml:"requests"`
	// Timeout bounds one request, from its actual send. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// MaxInflight bounds concurrent requests (and connections) of this
	// workload. An arrival that finds no free slot waits and is sent late;
	// its latency includes the wait. Default 1000.
	MaxInflight int `yaml:"max_inflight"`
	// MaxLateness: an arrival that could not be sent within this much of its
	// intended time is counted dropped instead of sent. Default: Timeout.
	MaxLateness Duration `yaml:"max_lateness"`
	// Expect lists the status codes that count as success. Default 200-399.
	Expect Expect `yaml:"expect"`
	// Uses names the data sources its templates read (data.go).
	Uses []string `yaml:"uses"`
	// Variables are the names its session steps extract, in slot order
	// (filled by Validate).
	Variables []string `yaml:"-"`
}

// Stage is one segment of a rate profile: either a linear ramp from the
// previous rate to RampTo over Over, or a hold at Hold for For.
type Stage struct {
	RampTo Rate     `yaml:"ramp_to"`
	Over   Duration `yaml:"over"`
	Hold   Rate     `yaml:"hold"`
	For    Duration `yaml:"for"`
}

// Request is one entry of a request mix.
type Request struct {
	Method  string            `yaml:"method"`
	Path    string            `yaml:"path"`
	Weight  int               `yaml:"weight"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	// Name is the request's name in the results and in requirements
	// (for "POST /cart"); default its method and path as written (Label).
	Name string `yaml:"name"`
	// BodyFile is a file whose content is the body, relative to the
	// scenario file's folder (see Scenario.ReadBody); exclusive with Body.
	BodyFile string `yaml:"body_file"`
	// Expect overrides the workload's expect for this request or step.
	Expect *Expect `yaml:"expect"`
	// Extract sets variables for the later steps of a session from the
	// response (correlate.go).
	Extract map[string]Extract `yaml:"extract"`
	// WebSocket makes the request a WebSocket session: the handshake,
	// then messages echoed (websocket.go).
	WebSocket *WebSocket `yaml:"websocket"`
	// Templates are its compiled placeholders, nil when it has none
	// (filled by Validate; template.go).
	Templates *RequestTemplates `yaml:"-"`
}

// Expect says which responses count as success.
type Expect struct {
	Status []int `yaml:"status"`
	// BodyContains, when set, must occur in the response body.
	BodyContains string `yaml:"body_contains"`
	// JSON are checks of the JSON body by path (correlate.go).
	JSON []JSONCheck `yaml:"json"`
	// Headers must be in the response, each value containing the text
	// given ("" for present at all).
	Headers map[string]string `yaml:"headers"`
}
