package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Templates: paths, header values and bodies (inline or body_file) may hold
// {{...}} placeholders, compiled once by Validate into literal and value
// parts; the engine renders the parts per request and never parses text.
//
//	{{users.email}}     field email of the current row of data source users
//	{{token}}           a variable an earlier session step extracted
//	{{user_id}}         the virtual user's number, from 1 (closed loop)
//	{{iteration}}       the user's iteration (closed) or the arrival's number (open), from 1
//	{{uuid}}            a random UUID (version 4), from the seeded source
//	{{random 1 100}}    a random integer in [1, 100], from the seeded source
//	{{timestamp}}       the send time in Unix milliseconds
//
// ${VAR} is another syntax, the environment's, replaced when the file is read.

// TemplateKind says what one part of a compiled template renders.
type TemplateKind uint8

const (
	TemplateLiteral   TemplateKind = iota // Text as it is
	TemplateField                         // Data[Source].Fields[Field] of the current row
	TemplateVariable                      // the workload's variable number Var
	TemplateUserID                        // {{user_id}}
	TemplateIteration                     // {{iteration}}
	TemplateUUID                          // {{uuid}}
	TemplateRandom                        // {{random Min Max}}
	TemplateTimestamp                     // {{timestamp}}
)

// helpers are the template names that are neither fields nor variables.
var helpers = map[string]TemplateKind{
	"user_id":   TemplateUserID,
	"iteration": TemplateIteration,
	"uuid":      TemplateUUID,
	"random":    TemplateRandom,
	"timestamp": TemplateTimestamp,
}

// TemplateHelpers lists the helpers' names, for messages and the docs.
var TemplateHelpers = []string{"user_id", "iteration", "uuid", "random", "timestamp"}

func isHelper(name string) bool { _, ok := helpers[name]; return ok }

// TemplatePart is a literal or one value of a compiled template.
type TemplatePart struct {
	Kind          TemplateKind
	Text          string // TemplateLiteral
	Source, Field int    // TemplateField: indexes into Scenario.Data and its Fields
	Var           int    // TemplateVariable: index into Workload.Variables
	Min, Max      int64  // TemplateRandom, inclusive
	// InQuery is true after a '?': in a path, a value there is escaped as a
	// query component, before it as a path segment.
	InQuery bool
}

// Template is a text compiled into parts; nil stands for a text without
// placeholders, sent as it is.
type Template struct {
	Parts []TemplatePart
}

// RequestTemplates are a request's compiled templates: nil when none of its
// path, header values and body holds a placeholder.
type RequestTemplates struct {
	Path    *Template // nil when the path is literal
	Body    *Template // nil when the body is literal
	Headers []HeaderTemplate
}

// HeaderTemplate is a header whose value holds a placeholder.
type HeaderTemplate struct {
	Name  string
	Value *Template
}

// templateScope is what a template in one place may name.
type templateScope struct {
	data    []DataSource
	sources map[string]int // the workload's sources (uses) -> index in data
	vars    map[string]int // variables extracted by earlier steps -> slot
	later   map[string]bool
	closed  bool
}

// templateError is a compile error at a byte offset of the text.
type templateError struct {
	offset int
	msg    string
}

// compileTemplate compiles text, or returns nil when it holds no "{{".
func compileTemplate(text string, scope *templateScope) (*Template, *templateError) {
	if !strings.Contains(text, "{{") {
		return nil, nil
	}
	t := &Template{}
	inQuery := false
	literal := func(s string) {
		if s == "" {
			return
		}
		t.Parts = append(t.Parts, TemplatePart{Kind: TemplateLiteral, Text: s, InQuery: inQuery})
		inQuery = inQuery || strings.Contains(s, "?")
	}
	rest, offset := text, 0
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			literal(rest)
			return t, nil
		}
		literal(rest[:open])
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			return nil, &templateError{offset + open, `"{{" without its "}}"`}
		}
		inner := rest[open+2 : open+end]
		part, err := scope.part(inner)
		if err != "" {
			return nil, &templateError{offset + open, err}
		}
		part.InQuery = inQuery
		t.Parts = append(t.Parts, part)
		offset += open + end + 2
		rest = rest[open+end+2:]
	}
}

// part compiles what is between "{{" and "}}".
func (s *templateScope) part(inner string) (TemplatePart, string) {
	words := strings.Fields(inner)
	if len(words) == 0 {
		return TemplatePart{}, "empty placeholder {{}}; expected a data field ({{source.field}}), a variable or a helper (" + strings.Join(TemplateHelpers, ", ") + ")"
	}
	name := words[0]
	if source, field, ok := strings.Cut(name, "."); ok {
		if len(words) > 1 {
			return TemplatePart{}, fmt.Sprintf("{{%s}}: a data field takes no arguments", strings.TrimSpace(inner))
		}
		return s.field(source, field)
	}
	if kind, ok := helpers[name]; ok {
		return s.helper(kind, name, words[1:])
	}
	if len(words) > 1 {
		return TemplatePart{}, fmt.Sprintf("unknown helper %q in {{%s}}; helpers: %s", name, strings.TrimSpace(inner), strings.Join(TemplateHelpers, ", "))
	}
	if slot, ok := s.vars[name]; ok {
		return TemplatePart{Kind: TemplateVariable, Var: slot}, ""
	}
	if s.later[name] {
		return TemplatePart{}, fmt.Sprintf("variable %q is extracted by this step or a later one; a step can use only what earlier steps extracted", name)
	}
	if i, ok := s.sources[name]; ok && len(s.data[i].Fields) > 0 {
		return TemplatePart{}, fmt.Sprintf("{{%s}} names a data source; name one of its fields, such as {{%s.%s}}", name, name, s.data[i].Fields[0])
	}
	known := append(append([]string{}, TemplateHelpers...), slices.Sorted(maps.Keys(s.vars))...)
	msg := fmt.Sprintf("unknown variable or helper %q; a variable comes from an earlier session step's extract:", name)
	if c := closest(name, known); c != "" {
		msg = fmt.Sprintf("unknown variable or helper %q (did you mean %q?); a variable comes from an earlier session step's extract:", name, c)
	}
	return TemplatePart{}, msg
}

func (s *templateScope) field(source, field string) (TemplatePart, string) {
	i, ok := s.sources[source]
	if !ok {
		for j := range s.data {
			if s.data[j].Name == source {
				return TemplatePart{}, fmt.Sprintf("data source %q is not in this workload's uses:; add uses: [%s]", source, source)
			}
		}
		known := make([]string, len(s.data))
		for j := range s.data {
			known[j] = s.data[j].Name
		}
		msg := fmt.Sprintf("unknown data source %q in {{%s.%s}}; data sources: %s", source, source, field, strings.Join(known, ", "))
		if c := closest(source, known); c != "" {
			msg = fmt.Sprintf("unknown data source %q in {{%s.%s}} (did you mean %q?); data sources: %s", source, source, field, c, strings.Join(known, ", "))
		}
		return TemplatePart{}, msg
	}
	d := &s.data[i]
	if len(d.Fields) == 0 {
		return TemplatePart{Kind: TemplateField, Source: i}, "" // (its file's problem is reported)
	}
	j := d.Field(field)
	if j < 0 {
		msg := fmt.Sprintf("data source %q has no field %q; fields: %s", source, field, strings.Join(d.Fields, ", "))
		if c := closest(field, d.Fields); c != "" {
			msg = fmt.Sprintf("data source %q has no field %q (did you mean %q?); fields: %s", source, field, c, strings.Join(d.Fields, ", "))
		}
		return TemplatePart{}, msg
	}
	return TemplatePart{Kind: TemplateField, Source: i, Field: j}, ""
}

func (s *templateScope) helper(kind TemplateKind, name string, args []string) (TemplatePart, string) {
	p := TemplatePart{Kind: kind}
	switch {
	case kind == TemplateRandom:
		if len(args) != 2 {
			return p, "expected {{random MIN MAX}} with two integers, such as {{random 1 100}}"
		}
		var err1, err2 error
		p.Min, err1 = strconv.ParseInt(args[0], 10, 64)
		p.Max, err2 = strconv.ParseInt(args[1], 10, 64)
		if err1 != nil || err2 != nil || p.Min > p.Max {
			return p, fmt.Sprintf("expected {{random MIN MAX}} with integers MIN <= MAX, got {{random %s}}", strings.Join(args, " "))
		}
	case len(args) > 0:
		return p, fmt.Sprintf("{{%s}} takes no arguments", name)
	case kind == TemplateUserID && !s.closed:
		return p, "{{user_id}} needs virtual users (model: closed); an open workload's arrivals are numbered by {{iteration}}"
	}
	return p, ""
}
