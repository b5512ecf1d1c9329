package scenario

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Error is one problem with a scenario, located in its file.
//
// Line and Column are 1-based; Line is 0 when the problem has no place in
// the file (the file could not be read, or the scenario was built in code
// and validated without a file). Path is the YAML path of the offending
// value, e.g. "workload[0].rate", when known.
type Error struct {
	File   string
	Line   int
	Column int
	Path   string
	Msg    string
	// Err is the underlying cause, if any (e.g. an fs.ErrNotExist).
	Err error
}

// Error formats the problem as "file:line:column: message".
func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	} else if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause.
func (e Error) Unwrap() error { return e.Err }

// Errors is every problem found in one scenario, sorted by position.
// Load and Parse return it for any problem with their input, so a caller can
// tell invalid input (exit code 2) from other failures with
// errors.As(err, &scenario.Errors{}).
type Errors []Error

// Error lists the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
}

// unique drops an error repeated at the same place, as one flag set in
// several places can make (--rate).
func (es Errors) unique() Errors {
	out := es[:0]
	for i, e := range es {
		if i == 0 || e.Error() != es[i-1].Error() {
			out = append(out, e)
		}
	}
	return out
}

// errorList collects problems found while decoding, so that one bad value
// does not hide the next.
type errorList struct{ errs Errors }

type errorListKey struct{}

// fail reports a problem with a YAML node. During Parse it is collected and
// decoding goes on; elsewhere (a plain yaml.Unmarshal) it is returned.
func fail(ctx context.Context, node ast.Node, msg string) error {
	line, col := nodePos(node)
	e := Error{Line: line, Column: col, Msg: msg}
	if list, ok := ctx.Value(errorListKey{}).(*errorList); ok {
		list.errs = append(list.errs, e)
		return nil
	}
	return e
}

// nodePos is where a node starts in the file. A block mapping starts at its
// first key; goccy's own token for it is the first ':'.
func nodePos(n ast.Node) (line, col int) {
	if n == nil {
		return 0, 0
	}
	switch v := n.(type) {
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 {
			return nodePos(v.Values[0])
		}
		if v.Start != nil {
			return tokenPos(v.Start)
		}
	case *ast.MappingValueNode:
		return nodePos(v.Key)
	case *ast.DocumentNode:
		return nodePos(v.Body)
	}
	return tokenPos(n.GetToken())
}

func tokenPos(t *token.Token) (line, col int) {
	if t == nil || t.Position == nil {
		return 0, 0
	}
	return t.Position.Line, t.Position.Column
}

var duplicateKeyMsg = regexp.MustCompile(`^mapping key "(.*)" already defined at \[(\d+):(\d+)\]$`)

// humanSyntax rewrites goccy's syntax messages into what a person should do.
func humanSyntax(msg string) string {
	switch {
	case strings.Contains(msg, "value is not allowed in this context"):
		return `unexpected ":" here: check the indentation (keys of one mapping must start in the same column) or quote a value that contains ": "`
	case strings.Contains(msg, "'\t'") || strings.Contains(msg, `\t`):
		return "tab character: indent YAML with spaces, not tabs"
	}
	if m := duplicateKeyMsg.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("duplicate key %q (first defined at line %s, column %s)", m[1], m[2], m[3])
	}
	return "invalid YAML: " + msg
}

// kindName names the YAML shape a Go type is written as.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping (key: value)"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "a value of type " + t.String()
}

// decodeError converts an error from goccy's parser or decoder into an
// Error with a position. paths maps node positions to YAML paths so the
// message can name the field.
func decodeError(err error, paths map[[2]int]string) Error {
	var (
		syntax     *yaml.SyntaxError
		typeErr    *yaml.TypeError
		overflow   *yaml.OverflowError
		unknown    *yaml.UnknownFieldError
		unexpected *yaml.UnexpectedNodeTypeError
		dup        *yaml.DuplicateKeyError
		own        Error
		generic    yaml.Error
	)
	at := func(t *token.Token, msg string) Error {
		line, col := tokenPos(t)
		return Error{Line: line, Column: col, Msg: msg}
	}
	field := func(t *token.Token) string {
		line, col := tokenPos(t)
		if p, ok := paths[[2]int{line, col}]; ok && p != "" {
			return " for " + lastElem(p)
		}
		return ""
	}
	switch {
	case errors.As(err, &own):
		return own
	case errors.As(err, &syntax):
		return at(syntax.Token, humanSyntax(syntax.Message))
	case errors.As(err, &typeErr):
		got := ""
		if typeErr.Token != nil {
			got = fmt.Sprintf(", got %q", typeErr.Token.Value)
		}
		return at(typeErr.Token, fmt.Sprintf("expected %s%s%s",
			kindName(typeErr.DstType), field(typeErr.Token), got))
	case errors.As(err, &overflow):
		return at(overflow.Token, fmt.Sprintf("number %s is too large%s", overflow.SrcNum, field(overflow.Token)))
	case errors.As(err, &unknown):
		return at(unknown.Token, unknown.Message)
	case errors.As(err, &unexpected):
		return at(unexpected.Token, fmt.Sprintf("expected a %s%s, got a %s",
			unexpected.Expected.YAMLName(), field(unexpected.Token), unexpected.Actual.YAMLName()))
	case errors.As(err, &dup):
		return at(dup.Token, humanSyntax(dup.Message))
	case errors.As(err, &generic):
		return at(generic.GetToken(), generic.GetMessage())
	}
	return Error{Msg: err.Error()}
}

// lastElem is the last element of a YAML path: "workers" for
// "sut.pools[0].backends[1].workers".
func lastElem(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}
