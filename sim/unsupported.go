package sim

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/proxy"
)

// Unsupported names, each at its place in the scenario, what the
// simulation does not model yet; nil when it models everything the
// scenario asks. It is the one list of them: modelling a feature deletes
// its line here.
func Unsupported(sc *scenario.Scenario) error {
	var errs scenario.Errors
	not := func(path, what string) {
		errs = append(errs, sc.ErrorAt(path, what+" is not simulated yet; ilities run runs it live"))
	}
	if sc.Target != nil {
		not("target", "an external target (target:)")
	}
	for i, site := range sc.AllSites() {
		o := site.SUT.Proxy.ProxyOptions
		for _, c := range []struct {
			on         bool
			path, what string
		}{
			{o.Kind != scenario.ProxyBuiltin, "sut.proxy.kind", fmt.Sprintf("a real proxy (kind: %s)", o.Kind)},
			{o.TLS, "sut.proxy.tls", "TLS termination (tls: true)"},
		} {
			if c.on {
				not(sc.SUTPath(i, c.path), c.what)
			}
		}
	}
	for i, w := range sc.Workload {
		path := fmt.Sprintf("workload[%d]", i)
		for _, c := range []struct {
			on         bool
			path, what string
		}{
			{w.Client.HTTP == scenario.HTTP2, path + ".client.http", "HTTP/2 (http: 2; the built-in proxy speaks HTTP/1.1, so live every request fails)"},
			{checksBody(w.Expect), path + ".expect", "checking an answer's body or headers (expect:)"},
		} {
			if c.on {
				not(c.path, c.what)
			}
		}
		for _, list := range []struct {
			name string
			reqs []scenario.Request
		}{{"requests", w.Requests}, {"session", w.Session}} {
			for j, r := range list.reqs {
				rpath := fmt.Sprintf("%s.%s[%d]", path, list.name, j)
				if r.WebSocket != nil {
					not(rpath+".websocket", "a WebSocket session (websocket:)")
				}
				if len(r.Extract) > 0 {
					not(rpath+".extract", "extracting from an answer (extract:; the model has no answer bodies or headers, and a value not found fails its step)")
				}
				if r.Expect != nil && checksBody(*r.Expect) {
					not(rpath+".expect", "checking an answer's body or headers (expect:)")
				}
				// A request goes to any site: each site's proxy must be one
				// the model holds it for; one refusal is enough.
				refused := map[string]bool{}
				for i, site := range sc.AllSites() {
					for _, t := range templateRefusals(sc.AtSite(i), r) {
						if !refused[t.path] {
							refused[t.path] = true
							not(rpath+t.path, t.what)
						}
					}
					if headBytes(r) > headLimit(site.SUT.Proxy.Limits) && !refused[""] {
						refused[""] = true
						not(rpath, "a request head near the proxy's max_header_bytes (its 431)")
					}
				}
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b scenario.Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return errs
}

// checksBody reports whether expect reads more of an answer than its status.
func checksBody(e scenario.Expect) bool {
	return e.BodyContains != "" || len(e.JSON) > 0 || len(e.Headers) > 0
}

// headBytes is a generous estimate of the request head the generator
// writes for r: its line, its headers, and room for those it adds.
func headBytes(r scenario.Request) int {
	n := len(r.Method) + len(r.Path) + 512
	for k, v := range r.Headers {
		n += len(k) + len(v) + 4
	}
	return n
}

// headLimit is the proxy's limit on a request head.
func headLimit(l scenario.ProxyLimits) int {
	if l.MaxHeaderBytes > 0 {
		return int(l.MaxHeaderBytes)
	}
	return proxy.DefaultMaxHeaderBytes
}
