package scenario

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Extract takes one value from a response into a variable, by exactly one
// of: a JSON path (github.com/tidwall/gjson's syntax), a header, a cookie the
// response sets, or a regular expression's first capture group on the body.
//
//	extract:
//	  token: {json: auth.token}
//	  csrf:  {header: X-CSRF-Token}
//	  sid:   {cookie: session}
//	  order: {regex: 'order-([0-9]+)'}
type Extract struct {
	JSON   string `yaml:"json"`
	Header string `yaml:"header"`
	Cookie string `yaml:"cookie"`
	Regex  string `yaml:"regex"`
}

// NeedsBody reports whether the extraction reads the response body.
func (e Extract) NeedsBody() bool { return e.JSON != "" || e.Regex != "" }

// JSONCheck is one check of a JSON response body by path (gjson syntax):
// the value exists (or not), or equals the text given (a number is
// compared as a number).
//
//	expect: {json: [{path: token, exists: true}, {path: user.name, equals: alice}]}
type JSONCheck struct {
	Path   string  `yaml:"path"`
	Exists *bool   `yaml:"exists"`
	Equals *string `yaml:"equals"`
}

// NeedsBody reports whether checking the expectation reads the response body.
func (e Expect) NeedsBody() bool { return e.BodyContains != "" || len(e.JSON) > 0 }

// templates compiles every workload's templates and checks its extract:
// and expect: checks; a step may use the variables earlier steps extract.
func (v *validator) templates(s *Scenario) {
	for i := range s.Workload {
		w := &s.Workload[i]
		w.Variables = nil // (Validate may run again, after a change)
		path := fmt.Sprintf("workload[%d]", i)
		scope := &templateScope{data: s.Data, sources: map[string]int{}, vars: map[string]int{}, later: map[string]bool{}, closed: w.Closed()}
		for _, name := range w.Uses {
			for j := range s.Data {
				if s.Data[j].Name == name {
					scope.sources[name] = j
				}
			}
		}
		v.expectChecks(path+".expect", w.Expect)
		for j := range w.Requests {
			rpath := fmt.Sprintf("%s.requests[%d]", path, j)
			v.requestTemplates(s, rpath, &w.Requests[j], scope)
			if len(w.Requests[j].Extract) > 0 {
				v.add(rpath+".extract", "extract: belongs to the steps of a session (model: closed, session: [...]): a request of a mix has no later step to use it")
			}
		}
		for _, step := range w.Session {
			for name := range step.Extract {
				scope.later[name] = true
			}
		}
		for j := range w.Session {
			spath := fmt.Sprintf("%s.session[%d]", path, j)
			step := &w.Session[j]
			v.requestTemplates(s, spath, step, scope)
			for _, name := range slices.Sorted(maps.Keys(step.Extract)) {
				v.extract(spath+".extract."+name, name, step.Extract[name], scope)
				if _, ok := scope.vars[name]; !ok {
					scope.vars[name] = len(w.Variables)
					w.Variables = append(w.Variables, name)
				}
			}
		}
	}
}

// requestTemplates compiles a request's path, header values and body.
func (v *validator) requestTemplates(s *Scenario, path string, r *Request, scope *templateScope) {
	if r.Expect != nil {
		v.expectChecks(path+".expect", *r.Expect)
	}
	var t RequestTemplates
	compile := func(at, text string) *Template {
		tmpl, err := compileTemplate(text, scope)
		if err != nil {
			v.addf(at, "%s in %q", err.msg, text)
		}
		return tmpl
	}
	t.Path = compile(path+".path", r.Path)
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		tmpl := compile(path+".headers."+name, r.Headers[name])
		switch {
		case tmpl == nil:
		case strings.EqualFold(name, "Host"):
			v.add(path+".headers."+name, "the Host header is set once per target; it cannot hold a placeholder")
		default:
			t.Headers = append(t.Headers, HeaderTemplate{Name: name, Value: tmpl})
		}
	}
	if r.BodyFile == "" {
		t.Body = compile(path+".body", r.Body)
	} else if body, err := v.paths.read(r.BodyFile, MaxBodyFileBytes); err == nil {
		// (An unreadable body_file is reported by requestExtras.)
		tmpl, terr := compileTemplate(string(body), scope)
		if terr != nil {
			line, col := lineColumn(body, terr.offset)
			file, _ := v.paths.resolve(r.BodyFile)
			v.errs = append(v.errs, Error{File: file, Line: line, Column: col, Msg: terr.msg})
		}
		t.Body = tmpl
	}
	r.Templates = nil
	if t.Path != nil || t.Body != nil || len(t.Headers) > 0 {
		r.Templates = &t
	}
}

// extract checks one extract: entry.
func (v *validator) extract(path, name string, e Extract, scope *templateScope) {
	switch {
	case !isIdentifier(name):
		v.addf(path, "a variable needs a name of letters, digits and _ (it is written {{name}}), got %q", name)
	case isHelper(name):
		v.addf(path, "%q is the name of a template helper; name the variable otherwise", name)
	case !scope.closed:
		v.add(path, "extract: belongs to the steps of a session (model: closed): an open workload's arrivals are independent, with no later step to use it")
	}
	set := 0
	for _, s := range []string{e.JSON, e.Header, e.Cookie, e.Regex} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		v.addf(path, "expected exactly one of json: (a path such as auth.token), header:, cookie: or regex: for variable %q", name)
		return
	}
	if e.Regex != "" {
		re, err := regexp.Compile(e.Regex)
		switch {
		case err != nil:
			v.addf(path+".regex", "invalid regular expression: %v", err)
		case re.NumSubexp() < 1:
			v.addf(path+".regex", "the regular expression %q has no capture group; the variable takes the first group, such as 'id=([0-9]+)'", e.Regex)
		}
	}
	if e.Header != "" && !isToken(e.Header) {
		v.addf(path+".header", "invalid header name %q", e.Header)
	}
}

// expectChecks checks expect: json: and headers:.
func (v *validator) expectChecks(path string, e Expect) {
	for i, c := range e.JSON {
		at := fmt.Sprintf("%s.json[%d]", path, i)
		switch {
		case strings.TrimSpace(c.Path) == "":
			v.add(at+".path", "a JSON check needs path:, such as user.name (github.com/tidwall/gjson syntax)")
		case (c.Exists == nil) == (c.Equals == nil):
			v.add(at, "expected exactly one of exists: true|false or equals: VALUE")
		}
	}
	for name := range e.Headers {
		if !isToken(name) {
			v.addf(path+".headers."+name, "invalid header name %q", name)
		}
	}
}

// lineColumn places a byte offset of b as 1-based line and column.
func lineColumn(b []byte, offset int) (line, col int) {
	before := b[:min(offset, len(b))]
	line = 1 + strings.Count(string(before), "\n")
	col = offset - strings.LastIndexByte(string(before), '\n')
	return line, col
}
