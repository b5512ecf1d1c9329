package scenario

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/ilities/ilities/sut/balancer"
)

// Distributions are the names accepted in a Distribution's dist field.
var Distributions = []string{"constant", "uniform", "exponential", "lognormal"}

// ArrivalProcesses are the accepted arrival processes of an open workload.
var ArrivalProcesses = []string{"uniform", "poisson"}

// Validate checks the scenario after ApplyDefaults and returns every
// problem it finds as Errors (nil when there is none). Each Error carries
// the YAML path of the offending value; Parse turns paths into
// line:column.
func (s *Scenario) Validate() error {
	v := &validator{paths: s.paths()}
	switch {
	case s.SUT == nil && s.Target == nil && !s.HasSites():
		v.add("", "expected either sut: (the built-in system under test), sites: (several of them behind DNS) or target: (an external URL)")
	case s.SUT != nil && s.Target != nil:
		v.add("target", "sut: and target: exclude each other; keep one")
	}
	v.sites(s)
	if s.Target != nil {
		v.target(s.Target)
		v.targetURLs(s.Target)
	}
	v.warmup(s)
	if s.SUT != nil {
		v.sut(s.SUT)
	}
	if s.Duration <= 0 {
		v.add("duration", "duration must be greater than 0")
	}
	if s.WindowOK < 0 || s.WindowOK > 1 {
		v.addf("window_ok", "window_ok must be between 0%% and 100%%, got %s", s.WindowOK)
	}

	names := map[string]bool{}
	if len(s.Workload) == 0 {
		v.add("workload", `expected at least one workload, such as "workload: [{rate: 100/s}]"`)
	}
	for i := range s.Workload {
		w := &s.Workload[i]
		path := fmt.Sprintf("workload[%d]", i)
		if names[w.Name] {
			v.addf(path+".name", "workload name %q is used twice; names must be unique", w.Name)
		}
		names[w.Name] = true
		v.workload(path, w)
		v.loadModel(path, w)
		v.requestNames(path, w)
	}

	v.data(s)
	v.templates(s)
	v.webSockets(s)
	v.faults(s)
	v.availability(s)
	v.limits(s, ThisMachine())

	for i, r := range s.Requirements {
		path := fmt.Sprintf("requirements[%d]", i)
		if _, ok := LookupMetric(r.Metric); !ok {
			v.add(path, unknownMetric(r.Metric).Error())
		}
		v.topologyRequirement(path, s, r)
		v.siteRequirement(path, s, r)
		if r.RequestScope {
			v.requestScope(path, s, r.Scope)
		} else if r.Scope != "" && !names[r.Scope] {
			known := make([]string, len(s.Workload))
			for j, w := range s.Workload {
				known[j] = w.Name
			}
			msg := fmt.Sprintf("unknown workload %q after \"for\"; workloads: %s", r.Scope, strings.Join(known, ", "))
			if c := closest(r.Scope, known); c != "" {
				msg = fmt.Sprintf("unknown workload %q after \"for\" (did you mean %q?); workloads: %s", r.Scope, c, strings.Join(known, ", "))
			}
			v.add(path, msg)
		}
	}
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type validator struct {
	errs  Errors
	paths pathPolicy // where files the scenario names may be
}

func (v *validator) add(path, msg string) {
	v.errs = append(v.errs, Error{Path: path, Msg: msg})
}

func (v *validator) addf(path, format string, args ...any) {
	v.add(path, fmt.Sprintf(format, args...))
}

// oneOf checks a name against a list, with a suggestion for a near miss.
func (v *validator) oneOf(path, what, got string, allowed []string) {
	if contains(allowed, got) {
		return
	}
	msg := fmt.Sprintf("unknown %s %q; expected one of %s", what, got, strings.Join(allowed, ", "))
	if c := closest(got, allowed); c != "" {
		msg = fmt.Sprintf("unknown %s %q (did you mean %q?); expected one of %s", what, got, c, strings.Join(allowed, ", "))
	}
	v.add(path, msg)
}

func (v *validator) target(t *Target) {
	u, err := url.Parse(t.URL)
	switch {
	case t.URL == "" && len(t.URLs) > 0:
	case t.URL == "":
		v.add("target.url", `target needs url: such as "http://127.0.0.1:8080" (or urls: [...])`)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.addf("target.url", `expected an http or https URL such as "http://127.0.0.1:8080", got %q`, t.URL)
	}
}

func (v *validator) listen(path, addr string) {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		v.addf(path, `expected host:port such as "127.0.0.1:0", got %q`, addr)
	}
}

// loopback checks a host:port that must be on this machine only (an admin
// listener: what it serves is no business of anyone else on the network).
func (v *validator) loopback(path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		v.addf(path, `expected a loopback host:port such as "127.0.0.1:0", got %q`, addr)
		return
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		v.addf(path, `expected a loopback address such as "127.0.0.1:0" (what it serves names internal addresses), got %q`, addr)
	}
}

func (v *validator) sut(s *SUT) {
	v.listen("sut.listen", s.Listen)
	// The strategies are those the balancer registers: a strategy's own file
	// makes its name valid here.
	v.oneOf("sut.proxy.strategy", "strategy", s.Proxy.Strategy, balancer.Names())
	v.proxyOptions("sut.proxy", &s.Proxy.ProxyOptions, s.Proxy.Strategy)
	if a := s.Proxy.Admin; a != "" && a == s.Listen && !strings.HasSuffix(a, ":0") {
		v.addf("sut.proxy.admin", "admin %q is the proxy's listen address; the admin listener needs a port of its own", a)
	}
	if len(s.Pools) == 0 {
		v.add("sut.pools", "sut needs at least one pool with at least one backend")
	}
	pools := map[string]bool{}
	backends := map[string]string{} // name -> path of first use
	tiers := s.Tiers()
	for i, p := range s.Pools {
		path := fmt.Sprintf("sut.pools[%d]", i)
		if pools[p.Name] {
			v.addf(path+".name", "pool name %q is used twice; names must be unique", p.Name)
		}
		pools[p.Name] = true
		if !tiers[p.Name] && !strings.HasPrefix(p.Match.PathPrefix, "/") {
			v.addf(path+".match.path_prefix", `path_prefix must start with "/", got %q`, p.Match.PathPrefix)
		}
		if len(p.Backends) == 0 {
			v.addf(path+".backends", "pool %q needs at least one backend", p.Name)
		}
		for j, b := range p.Backends {
			bpath := fmt.Sprintf("%s.backends[%d]", path, j)
			if first, dup := backends[b.Name]; dup {
				v.addf(bpath+".name", "backend name %q is already used at %s; backend names must be unique across the sut", b.Name, first)
			} else {
				backends[b.Name] = bpath
			}
			v.backend(bpath, b)
		}
	}
	v.tiers(s)
}

// distribution checks that d names a known dist and has exactly the fields
// that dist uses.
func (v *validator) distribution(path string, d Distribution) {
	if d.Dist == "" {
		v.addf(path, "%s needs dist: one of %s", lastElem(path), strings.Join(Distributions, ", "))
		return
	}
	if !contains(Distributions, d.Dist) {
		v.oneOf(path+".dist", "distribution", d.Dist, Distributions)
		return
	}
	fields := map[string]Duration{"value": d.Value, "min": d.Min, "max": d.Max, "mean": d.Mean, "median": d.Median, "p99": d.P99}
	uses := map[string][]string{
		"constant":    {"value"},
		"uniform":     {"min", "max"},
		"exponential": {"mean"},
		"lognormal":   {"median", "p99"},
	}[d.Dist]
	for _, name := range []string{"value", "min", "max", "mean", "median", "p99"} {
		if fields[name] != 0 && !contains(uses, name) {
			v.addf(path+"."+name, "%s does not belong to dist: %s, which takes %s", name, d.Dist, strings.Join(uses, " and "))
		}
	}
	switch d.Dist {
	case "uniform":
		if d.Max == 0 {
			v.addf(path+".max", "uniform needs max: a duration greater than 0 (and min <= max)")
		} else if d.Min > d.Max {
			v.addf(path+".min", "uniform needs min <= max, got min %s > max %s", d.Min, d.Max)
		}
	case "exponential":
		if d.Mean <= 0 {
			v.addf(path+".mean", "exponential needs mean: a duration greater than 0 such as \"5ms\"")
		}
	case "lognormal":
		if d.Median <= 0 {
			v.addf(path+".median", "lognormal needs median: a duration greater than 0 such as \"4ms\"")
		}
		if d.P99 < d.Median {
			v.addf(path+".p99", "lognormal needs p99 >= median, got p99 %s < median %s", d.P99, d.Median)
		}
	}
}

func (v *validator) workload(path string, w *Workload) {
	v.oneOf(path+".model", "model", w.Model, Models)
	v.oneOf(path+".arrival", "arrival", w.Arrival, ArrivalProcesses)

	switch {
	case w.Closed(): // users, checked by loadModel
	case w.Rate != 0 && len(w.Stages) > 0:
		v.add(path+".stages", "rate: and stages: exclude each other; use rate for a constant load or stages for a shaped one")
	case w.Rate == 0 && len(w.Stages) == 0:
		v.add(path, `workload needs a rate greater than 0 (such as "rate: 100/s") or stages`)
	}
	for i, st := range w.Stages {
		v.stage(fmt.Sprintf("%s.stages[%d]", path, i), st)
	}

	if len(w.Requests) == 0 && len(w.Session) == 0 {
		v.add(path+".requests", "expected at least one request")
	}
	for i, r := range w.Requests {
		rpath := fmt.Sprintf("%s.requests[%d]", path, i)
		if !isToken(r.Method) {
			v.addf(rpath+".method", "expected an HTTP method such as GET or POST, got %q", r.Method)
		}
		if !strings.HasPrefix(r.Path, "/") {
			v.addf(rpath+".path", `path must start with "/", got %q`, r.Path)
		}
		if r.Weight < 1 {
			v.addf(rpath+".weight", "weight must be at least 1, got %d", r.Weight)
		}
		for name := range r.Headers {
			if !isToken(name) {
				v.addf(rpath+".headers."+name, "invalid header name %q", name)
			}
		}
	}
	if w.Timeout <= 0 {
		v.add(path+".timeout", "timeout must be greater than 0")
	}
	if w.MaxInflight < 1 {
		v.addf(path+".max_inflight", "max_inflight must be at least 1, got %d", w.MaxInflight)
	}
	for i, status := range w.Expect.Status {
		if status < 100 || status > 599 {
			v.addf(path+".expect.status["+strconv.Itoa(i)+"]", "expected an HTTP status between 100 and 599, got %d", status)
		}
	}
}

const stageExample = `{ramp_to: 800/s, over: 10s} or {hold: 800/s, for: 50s}`

func (v *validator) stage(path string, st Stage) {
	ramp := st.RampTo != 0 || st.Over != 0
	hold := st.Hold != 0 || st.For != 0
	switch {
	case ramp && hold:
		v.addf(path, "a stage is either a ramp or a hold, not both: %s", stageExample)
	case !ramp && !hold:
		v.addf(path, "empty stage; expected %s", stageExample)
	case ramp && st.Over <= 0:
		v.add(path, `a ramp needs over: a duration greater than 0, such as "over: 10s"`)
	case hold && st.For <= 0:
		v.add(path, `a hold needs for: a duration greater than 0, such as "for: 50s"`)
	}
}

// isToken reports whether s is an HTTP token (RFC 9110): a method or a
// header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
