package scenario

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Load models of a workload.
const (
	ModelOpen   = "open"
	ModelClosed = "closed"
)

// Models are the accepted values of a workload's model field.
var Models = []string{ModelOpen, ModelClosed}

// HTTP protocol versions a workload's client may speak.
const (
	HTTP1 = "1.1"
	HTTP2 = "2"
)

// HTTPVersions are the accepted values of client.http.
var HTTPVersions = []string{HTTP1, HTTP2}

// Client configures how a workload talks to its target.
//
//	client: {http: 2, insecure: true, keepalive: false, max_connections: 64}
type Client struct {
	// HTTP is the protocol: "1.1" (default) or "2" (HTTP/2 over TLS for
	// https URLs, cleartext with prior knowledge for http URLs).
	HTTP HTTPVersion `yaml:"http"`
	// KeepAlive reuses connections across requests (default true); false
	// opens a connection per request.
	KeepAlive *bool `yaml:"keepalive"`
	// Insecure skips TLS certificate verification.
	Insecure bool `yaml:"insecure"`
	// MaxConnections bounds the connections to each target URL. Default:
	// the workload's concurrency (max_inflight, or its users).
	MaxConnections int `yaml:"max_connections"`
}

// HTTPVersion is "1.1" or "2"; YAML may write it as a number (http: 2).
type HTTPVersion string

// UnmarshalYAML accepts 1.1, 2, "1.1", "2", and the spellings 1, 2.0, h2.
func (v *HTTPVersion) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	if node.Type() == ast.NullType {
		*v = ""
		return nil
	}
	text, ok := scalarText(node)
	if !ok {
		return fail(ctx, node, fmt.Sprintf(`expected http: 1.1 or http: 2, got %s`, shapeName(node)))
	}
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "1", "1.1", "http/1.1", "h1":
		*v = HTTP1
	case "2", "2.0", "http/2", "h2", "h2c":
		*v = HTTP2
	default:
		return fail(ctx, node, fmt.Sprintf(`expected http: 1.1 or http: 2, got %q`, text))
	}
	return nil
}

// KeepsAlive reports whether connections are reused (the default).
func (c Client) KeepsAlive() bool { return c.KeepAlive == nil || *c.KeepAlive }

// Closed reports whether the workload is a closed loop of virtual users.
func (w Workload) Closed() bool { return w.Model == ModelClosed }

// Steps is what one iteration of a workload sends: its session, in order,
// or nil for a request mix (one request per arrival or iteration, by weight).
func (w Workload) Steps() []Request { return w.Session }

// UserProfile is the number of virtual users of a closed workload over
// [0,total): a constant users count is one hold; stages ramp and hold user
// counts exactly as an open workload's stages shape its rate.
func (w Workload) UserProfile(total time.Duration) []Segment {
	if len(w.Stages) == 0 {
		u := float64(w.Users)
		if total <= 0 {
			return nil
		}
		return []Segment{{Start: 0, End: total, From: u, To: u}}
	}
	return w.Profile(total)
}

// MaxUsers is the largest number of virtual users a closed workload has at
// once over a run of the given length.
func (w Workload) MaxUsers(total time.Duration) int {
	peak := 0.0
	for _, s := range w.UserProfile(total) {
		peak = math.Max(peak, math.Max(s.From, s.To))
	}
	return int(math.Floor(peak + 1e-9))
}

// Concurrency is how many requests of the workload can be in flight at
// once: its max_inflight (open) or its peak users (closed).
func (w Workload) Concurrency(total time.Duration) int {
	if w.Closed() {
		return w.MaxUsers(total)
	}
	return w.MaxInflight
}

// URLList is every target URL: url first, then urls.
func (t Target) URLList() []string {
	var out []string
	if t.URL != "" {
		out = append(out, t.URL)
	}
	return append(out, t.URLs...)
}

func (r *Request) applyDefaults() {
	if r.Method == "" {
		r.Method = DefaultRequestMethod
	}
	if r.Path == "" {
		r.Path = DefaultRequestPath
	}
	if r.Weight == 0 {
		r.Weight = DefaultWeight
	}
}

// applyLoadDefaults fills the fields the closed model, sessions and the
// client add to a workload.
func (w *Workload) applyLoadDefaults() {
	for i := range w.Session {
		w.Session[i].applyDefaults()
	}
	w.webSocketDefaults()
	if w.Client.HTTP == "" {
		w.Client.HTTP = HTTP1
	}
}

// loadModel checks what belongs to the load model: users or rate,
// think time, session steps, bodies and the client.
func (v *validator) loadModel(path string, w *Workload) {
	if w.Closed() {
		switch {
		case w.Rate != 0:
			v.add(path+".rate", "a closed workload has users, not a rate: use users: N (or stages of user counts)")
		case w.Users != 0 && len(w.Stages) > 0:
			v.add(path+".stages", "users: and stages: exclude each other; use users for a constant count or stages for a ramp")
		case w.Users < 0:
			v.addf(path+".users", "users must be at least 1, got %d", w.Users)
		case w.Users == 0 && len(w.Stages) == 0:
			v.add(path, `a closed workload needs users (such as "users: 50") or stages of user counts`)
		}
	} else {
		if w.Users != 0 {
			v.add(path+".users", "users: belongs to model: closed; an open workload has a rate")
		}
		if w.ThinkTime != (Distribution{}) {
			v.add(path+".think_time", "think_time: belongs to model: closed (an open workload's arrivals follow its rate)")
		}
		if len(w.Session) > 0 {
			v.add(path+".session", "session: belongs to model: closed (each virtual user runs the steps in order)")
		}
	}
	if w.ThinkTime != (Distribution{}) {
		v.distribution(path+".think_time", w.ThinkTime)
	}
	if len(w.Session) > 0 && !w.onlyDefaultRequest() {
		v.add(path+".session", "session: and requests: exclude each other; a session is an ordered list of steps, requests a weighted mix")
	}
	for i := range w.Session {
		v.request(fmt.Sprintf("%s.session[%d]", path, i), w.Session[i])
	}
	for i := range w.Requests {
		rpath := fmt.Sprintf("%s.requests[%d]", path, i)
		r := w.Requests[i]
		if r.BodyFile != "" || r.Expect != nil {
			v.requestExtras(rpath, r)
		}
	}
	if w.Client.HTTP != "" && !contains(HTTPVersions, string(w.Client.HTTP)) {
		v.addf(path+".client.http", "expected http: 1.1 or http: 2, got %q", w.Client.HTTP)
	}
	if w.Client.MaxConnections < 0 {
		v.addf(path+".client.max_connections", "max_connections must be at least 1, got %d", w.Client.MaxConnections)
	}
}

// onlyDefaultRequest reports whether requests holds nothing but the default
// GET / that ApplyDefaults adds.
func (w *Workload) onlyDefaultRequest() bool {
	if len(w.Requests) == 0 {
		return true
	}
	if len(w.Requests) > 1 {
		return false
	}
	r := w.Requests[0]
	return r.Method == DefaultRequestMethod && r.Path == DefaultRequestPath && r.Weight == DefaultWeight &&
		len(r.Headers) == 0 && r.Body == "" && r.BodyFile == "" && r.Expect == nil && r.Name == ""
}

// request checks one session step (the checks of a mix entry too).
func (v *validator) request(path string, r Request) {
	if !isToken(r.Method) {
		v.addf(path+".method", "expected an HTTP method such as GET or POST, got %q", r.Method)
	}
	if !strings.HasPrefix(r.Path, "/") {
		v.addf(path+".path", `path must start with "/", got %q`, r.Path)
	}
	for name := range r.Headers {
		if !isToken(name) {
			v.addf(path+".headers."+name, "invalid header name %q", name)
		}
	}
	v.requestExtras(path, r)
}

func (v *validator) requestExtras(path string, r Request) {
	if r.BodyFile != "" {
		if r.Body != "" {
			v.add(path+".body_file", "body: and body_file: exclude each other; keep one")
		} else if _, _, err := v.paths.check(r.BodyFile, MaxBodyFileBytes); err != nil {
			v.addf(path+".body_file", "body_file %q: %v", r.BodyFile, err)
		}
	}
	if r.Expect != nil {
		for i, status := range r.Expect.Status {
			if status < 100 || status > 599 {
				v.addf(fmt.Sprintf("%s.expect.status[%d]", path, i), "expected an HTTP status between 100 and 599, got %d", status)
			}
		}
	}
}

// targetURLs checks the urls of an external target (url is checked by target).
func (v *validator) targetURLs(t *Target) {
	for i, u := range t.URLs {
		parsed, err := url.Parse(u)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			v.addf(fmt.Sprintf("target.urls[%d]", i), `expected an http or https URL such as "http://127.0.0.1:8080", got %q`, u)
		}
	}
}

// warmup checks that the warm-up leaves a measured part of the run.
func (v *validator) warmup(s *Scenario) {
	if s.Warmup < 0 || (s.Duration > 0 && s.Warmup >= s.Duration) {
		v.addf("warmup", "warmup must be shorter than duration (%s), got %s", s.Duration, s.Warmup)
	}
}
