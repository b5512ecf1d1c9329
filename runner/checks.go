package runner

import (
	"bytes"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/ilities/ilities/scenario"
)

// responseChecks are what a request asks of a response beyond its status
// and body_contains: expect's JSON and header checks, and its extractions
// into the virtual user's variables. A response with an expected status
// that fails one is unexpected_body. Bodies are read up to bodyCheckLimit.
type responseChecks struct {
	json    []scenario.JSONCheck
	headers []headerCheck
	extract []extraction
	body    bool     // some check reads the body
	fields  []string // the header names the checks read
}

type headerCheck struct{ name, contains string }

type extraction struct {
	name   string // the variable
	slot   int    // its index in userData.vars (bind)
	json   string
	header string
	cookie string
	re     *regexp.Regexp
}

// newResponseChecks returns nil when the request checks nothing more.
func newResponseChecks(e scenario.Expect, extract map[string]scenario.Extract) *responseChecks {
	if len(e.JSON) == 0 && len(e.Headers) == 0 && len(extract) == 0 {
		return nil
	}
	c := &responseChecks{json: e.JSON, body: len(e.JSON) > 0}
	for name, contains := range e.Headers {
		c.headers = append(c.headers, headerCheck{http.CanonicalHeaderKey(name), contains})
		c.fields = append(c.fields, http.CanonicalHeaderKey(name))
	}
	for name, x := range extract {
		ex := extraction{name: name, json: x.JSON, header: http.CanonicalHeaderKey(x.Header), cookie: x.Cookie}
		if x.Header == "" {
			ex.header = ""
		} else {
			c.fields = append(c.fields, ex.header)
		}
		if x.Regex != "" {
			ex.re = regexp.MustCompile(x.Regex) // validated by the scenario
		}
		c.body = c.body || x.NeedsBody()
		c.extract = append(c.extract, ex)
	}
	slices.SortFunc(c.extract, func(a, b extraction) int { return strings.Compare(a.name, b.name) })
	return c
}

// bind gives each extraction its variable's slot in the workload.
func (c *responseChecks) bind(variables []string) {
	for i := range c.extract {
		c.extract[i].slot = slices.Index(variables, c.extract[i].name)
	}
}

// wants reports whether the checks read the header named name.
func (c *responseChecks) wants(name []byte) bool {
	for _, f := range c.fields {
		if bytes.EqualFold(name, []byte(f)) {
			return true
		}
	}
	return false
}

// headerValue looks a header up in a response as the checks see it.
type headerValue func(name string) (string, bool)

// pass runs the checks on a response with an expected status, setting
// u's variables from what it extracts; false when one fails.
func (c *responseChecks) pass(body []byte, header headerValue, setCookies []string, u *userData) bool {
	for _, jc := range c.json {
		if !jsonCheckPasses(jc, gjson.GetBytes(body, jc.Path)) {
			return false
		}
	}
	for _, hc := range c.headers {
		v, ok := header(hc.name)
		if !ok || !strings.Contains(v, hc.contains) {
			return false
		}
	}
	for i := range c.extract {
		v, ok := c.extract[i].from(body, header, setCookies)
		if !ok {
			return false
		}
		if u != nil && c.extract[i].slot >= 0 {
			u.vars[c.extract[i].slot] = v
		}
	}
	return true
}

func jsonCheckPasses(c scenario.JSONCheck, got gjson.Result) bool {
	if c.Exists != nil {
		return got.Exists() == *c.Exists
	}
	if !got.Exists() {
		return false
	}
	want := *c.Equals
	if got.Type == gjson.Number {
		if f, err := strconv.ParseFloat(want, 64); err == nil {
			return got.Num == f
		}
	}
	return got.String() == want
}

// from takes the extraction's value from a response.
func (x *extraction) from(body []byte, header headerValue, setCookies []string) (string, bool) {
	switch {
	case x.json != "":
		r := gjson.GetBytes(body, x.json)
		return r.String(), r.Exists()
	case x.header != "":
		return header(x.header)
	case x.cookie != "":
		for _, line := range setCookies {
			if c, err := http.ParseSetCookie(line); err == nil && c.Name == x.cookie {
				return c.Value, true
			}
		}
	case x.re != nil:
		if m := x.re.FindSubmatch(body); m != nil {
			return string(m[1]), true
		}
	}
	return "", false
}

// capturedField is a response header a check reads (lean client).
type capturedField struct{ name, value string }

type capturedFields []capturedField

func (fs capturedFields) get(name string) (string, bool) {
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// readsBody reports whether the request's response body is kept (up to
// bodyCheckLimit) for its checks.
func (r *request) readsBody() bool {
	return r.expect.body != nil || (r.checks != nil && r.checks.body)
}
