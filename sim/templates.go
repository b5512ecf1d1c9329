package sim

import (
	"cmp"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/proxy"
)

// What a request's templates ({{...}}) may change of what the model sees:
// its pool (by its path's prefix: a Host header holds no placeholder), what the proxy's
// policy reads (consistent-hash's path or header), the cookies of its
// session, and the sizes the proxy limits (its body's, 413; its head's,
// 431). A template that can change none of them, whatever it renders,
// changes nothing the model sees: it is simulated as written, and
// Unsupported refuses the others (templateRefusals).

// refusal is a part of a request the model cannot simulate: its place,
// relative to the request's, and what it is.
type refusal struct{ path, what string }

// templateRefusals lists where r's templates may change what the model
// sees, in the scenario sc.
func templateRefusals(sc *scenario.Scenario, r scenario.Request) []refusal {
	t := r.Templates
	if t == nil || sc.SUT == nil {
		return nil
	}
	var out []refusal
	opts := sc.SUT.Proxy.ProxyOptions
	hashKey := ""
	if sc.SUT.Proxy.Strategy == "consistent-hash" {
		hashKey = cmp.Or(opts.Hash.Key, "path")
	}
	if t.Path != nil {
		switch {
		case hashKey == "path" && valueInPath(t.Path):
			out = append(out, refusal{".path", "a templated path, which the consistent-hash policy reads ({{...}})"})
		case !routeIsLiteral(sc, literalPrefix(t.Path)):
			out = append(out, refusal{".path", "a templated path whose pool depends on its values ({{...}})"})
		}
	}
	for _, h := range t.Headers {
		name, where := http.CanonicalHeaderKey(h.Name), ".headers."+h.Name
		switch {
		case name == "Cookie":
			out = append(out, refusal{where, "a templated Cookie header, whose cookies stickiness and sessions read ({{...}})"})
		case strings.HasPrefix(hashKey, "header:") && name == http.CanonicalHeaderKey(strings.TrimPrefix(hashKey, "header:")):
			out = append(out, refusal{where, "a templated header the consistent-hash policy reads ({{...}})"})
		}
	}
	if t.Body != nil {
		limit := int(opts.Limits.MaxBodyBytes)
		if limit <= 0 {
			limit = proxy.DefaultMaxBodyBytes
		}
		if n := longest(sc, t.Body, inBody); n < 0 || n > limit {
			out = append(out, refusal{"", "a templated body that may be over the proxy's max_body_bytes (its 413)"})
		}
	}
	if n := templatedHeadBytes(sc, r); n < 0 || n > headLimit(opts.Limits) {
		out = append(out, refusal{"", "a templated request head that may near the proxy's max_header_bytes (its 431)"})
	}
	return out
}

// seen is request r as the model sees it: a templated body, which
// Unsupported has found within the proxy's limit however it renders,
// weighs nothing.
func seen(r scenario.Request) scenario.Request {
	if r.Templates != nil && r.Templates.Body != nil {
		r.Body, r.BodyFile = "", ""
	}
	return r
}

// literalPrefix is the text of a path template before its first value.
func literalPrefix(t *scenario.Template) string {
	var b strings.Builder
	for _, p := range t.Parts {
		if p.Kind != scenario.TemplateLiteral {
			break
		}
		b.WriteString(p.Text)
	}
	return b.String()
}

// valueInPath reports whether a value of t lands in the path itself,
// before the query the policies do not read.
func valueInPath(t *scenario.Template) bool {
	for _, p := range t.Parts {
		if p.Kind != scenario.TemplateLiteral && !p.InQuery {
			return true
		}
	}
	return false
}

// routeIsLiteral reports whether every path that starts with prefix goes
// to the same pool: no pool's path prefix extends it, so each either
// starts every such path or none. A value is escaped where it lands, so
// it cannot end the path early with a '?'.
func routeIsLiteral(sc *scenario.Scenario, prefix string) bool {
	path, _, query := strings.Cut(prefix, "?")
	if query {
		return true
	}
	for _, pc := range sc.SUT.Pools {
		if p := pc.Match.PathPrefix; len(p) > len(path) && strings.HasPrefix(p, path) {
			return false
		}
	}
	return true
}

// templatedHeadBytes is headBytes of r with each templated path and
// header value at its longest rendering; -1 when one has no bound.
func templatedHeadBytes(sc *scenario.Scenario, r scenario.Request) int {
	n := headBytes(r)
	if t := r.Templates.Path; t != nil {
		l := longest(sc, t, inPath)
		if l < 0 {
			return -1
		}
		n += l - len(r.Path)
	}
	for _, h := range r.Templates.Headers {
		l := longest(sc, h.Value, inHeader)
		if l < 0 {
			return -1
		}
		n += l - len(r.Headers[h.Name])
	}
	return n
}

// landing is where a template renders, which decides how its values are
// escaped (as the runner escapes them).
type landing uint8

const (
	inBody   landing = iota // as it is
	inPath                  // a path segment, or a query component after '?'
	inHeader                // without line breaks: never longer
)

// longest is the length of the longest text t renders where it lands;
// -1 when it has no bound (a variable holds what an answer gave).
func longest(sc *scenario.Scenario, t *scenario.Template, at landing) int {
	const number = 20 // an int64 in decimal, with its sign
	n := 0
	for _, p := range t.Parts {
		switch p.Kind {
		case scenario.TemplateLiteral:
			n += len(p.Text)
		case scenario.TemplateField:
			n += longestField(sc.Data[p.Source].Rows, p, at)
		case scenario.TemplateUUID:
			n += 36
		case scenario.TemplateRandom:
			n += max(len(strconv.FormatInt(p.Min, 10)), len(strconv.FormatInt(p.Max, 10)))
		case scenario.TemplateUserID, scenario.TemplateIteration, scenario.TemplateTimestamp:
			n += number
		default:
			return -1
		}
	}
	return n
}

// longestField is the length of the longest value field p takes in rows,
// escaped where it lands.
func longestField(rows [][]string, p scenario.TemplatePart, at landing) int {
	n := 0
	for _, row := range rows {
		if p.Field >= len(row) {
			continue
		}
		v := row[p.Field]
		switch {
		case at == inPath && p.InQuery:
			n = max(n, len(url.QueryEscape(v)))
		case at == inPath:
			n = max(n, len(url.PathEscape(v)))
		default:
			n = max(n, len(v))
		}
	}
	return n
}
