package scenario

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// LookupFunc finds a variable a scenario refers to as ${NAME}: os.LookupEnv,
// or a fixed set in tests.
type LookupFunc func(name string) (value string, ok bool)

// Variables: a scalar may refer to ${NAME}, or ${NAME:-default} (the
// default when NAME is unset or empty); $${ writes a literal ${. They are
// replaced in the tokens, between the lexer and the parser, so a value is
// always text within one scalar (it cannot add keys or items), every
// token keeps its place in the file (an error found later still points
// into it), and an unquoted value is typed as if it had been written there
// (workers: ${WORKERS} is an integer). Comments are left alone.
const (
	refOpen        = "${"
	refEscape      = "$${"
	refDefaultSep  = ":-"
	refSyntaxHint  = "expected ${NAME} or ${NAME:-default} (NAME: letters, digits and _, not starting with a digit); write $${ for a literal ${"
	refUnquotedMsg = `a ${NAME} inside [...] or {...} must be quoted there, as in ["${NAME}"]: unquoted, { starts a mapping`
)

// substituteVariables replaces every variable in the scalar tokens of
// data, in place, and says by how many bytes the values grew the text.
// Each problem (an unset variable without a default, a malformed
// reference, a value taking the file past MaxFileBytes) is an Error at the
// reference's "$"; a scalar with one is left as written.
func substituteVariables(data []byte, tokens token.Tokens, lookup LookupFunc) (grown int, problems varProblems) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if !strings.Contains(string(data), "$") {
		return 0, nil
	}
	src := newSourceIndex(data)
	var errs varProblems
	for i, tk := range tokens {
		if !strings.Contains(tk.Value, "$") || !isScalarText(tokens, i) {
			continue
		}
		start, end := src.span(tokens, i)
		raw := string(src.runes[start:end])
		if next := nextToken(tokens, i); next != nil && next.Type == token.MappingStartType && strings.HasSuffix(raw, "$") {
			errs = append(errs, varProblem{Error: src.errorAt(end-1, refUnquotedMsg)})
			continue
		}
		value, refs := expand(tk.Value, lookup)
		// The k-th reference of the value is the k-th as written, unless
		// a double-quoted escape spelled one; then the scalar's start.
		rawRefs := references(raw)
		at := func(k int) int {
			if len(rawRefs) == len(refs) {
				return start + len([]rune(raw[:rawRefs[k]]))
			}
			return start
		}
		failed := false
		for k, r := range refs {
			grown += r.grown
			switch {
			case r.problem != "":
				errs = append(errs, varProblem{Error: src.errorAt(at(k), r.problem), scalar: tk})
				failed = true
			case len(data)+grown > MaxFileBytes:
				return grown, append(errs, varProblem{Error: src.errorAt(at(k), fmt.Sprintf(
					"expected a scenario file of at most %s with its variables substituted, and ${%s} takes it past: %s",
					limitFileSize, r.name, limitFileSize.Why))})
			}
		}
		if !failed {
			setScalar(tokens, i, value)
		}
	}
	return grown, errs
}

// varProblem is a problem with a variable. One in a scalar (an unset
// variable) counts only when the scalar is still in the document once the
// command line's values are in: a value --target or --set replaces needs no
// variable. One with no scalar counts wherever it is.
type varProblem struct {
	Error
	scalar *token.Token
}

type varProblems []varProblem

// all is every problem.
func (ps varProblems) all() Errors {
	errs := make(Errors, len(ps))
	for i, p := range ps {
		errs[i] = p.Error
	}
	return errs
}

// in is the problems that count in the document under root.
func (ps varProblems) in(root ast.Node) Errors {
	if len(ps) == 0 {
		return nil
	}
	kept := scalarSet{}
	ast.Walk(kept, root)
	var errs Errors
	for _, p := range ps {
		if p.scalar == nil || kept[p.scalar] {
			errs = append(errs, p.Error)
		}
	}
	return errs
}

// scalarSet is the tokens of a document's nodes, as ast.Walk visits them.
type scalarSet map[*token.Token]bool

func (s scalarSet) Visit(n ast.Node) ast.Visitor {
	s[n.GetToken()] = true
	return s
}

// reference is one ${...} of a scalar, as expand resolved it.
type reference struct {
	name    string
	grown   int    // bytes the value adds (or removes) in place of the reference
	problem string // why it could not be resolved, if it could not
}

// expand returns s with its references replaced, and each reference in
// order.
func expand(s string, lookup LookupFunc) (string, []reference) {
	var b strings.Builder
	var refs []reference
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], refEscape):
			b.WriteString(refOpen)
			i += len(refEscape)
		case strings.HasPrefix(s[i:], refOpen):
			r, value, n := resolve(s[i:], lookup)
			b.WriteString(value)
			refs = append(refs, r)
			i += n
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), refs
}

// resolve reads the reference s starts with; n is its length in bytes.
func resolve(s string, lookup LookupFunc) (r reference, value string, n int) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return reference{problem: fmt.Sprintf("%s, got %q with no closing }", refSyntaxHint, s)}, s, len(s)
	}
	name, fallback, hasDefault := strings.Cut(s[len(refOpen):end], refDefaultSep)
	if !isVariableName(name) {
		return reference{problem: fmt.Sprintf("%s, got %q", refSyntaxHint, s[:end+1])}, s[:end+1], end + 1
	}
	value, set := lookup(name)
	switch {
	case hasDefault && value == "":
		value = fallback
	case !set:
		return reference{name: name, problem: fmt.Sprintf(
			"environment variable %s is not set; set it, or give a default: ${%s:-default}", name, name)}, s[:end+1], end + 1
	}
	return reference{name: name, grown: len(value) - (end + 1)}, value, end + 1
}

// references are the byte offsets of the references in s, escapes left out.
func references(s string) []int {
	var at []int
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], refEscape):
			i += len(refEscape)
		case strings.HasPrefix(s[i:], refOpen):
			at = append(at, i)
			i += len(refOpen)
		default:
			i++
		}
	}
	return at
}

func isVariableName(s string) bool {
	for i, c := range s {
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// isScalarText reports whether tokens[i] is a scalar's text: plain, quoted,
// or a block scalar's content; not an anchor's, alias's or tag's name.
func isScalarText(tokens token.Tokens, i int) bool {
	switch tokens[i].Type {
	case token.StringType, token.DoubleQuoteType, token.SingleQuoteType:
	default:
		return false
	}
	if i == 0 {
		return true
	}
	switch tokens[i-1].Type {
	case token.AnchorType, token.AliasType:
		return tokens[i-1].Position.Line != tokens[i].Position.Line ||
			tokens[i-1].Position.Column+1 != tokens[i].Position.Column
	}
	return true
}

// isPlain reports whether tokens[i] is an unquoted scalar, typed by its text.
func isPlain(tokens token.Tokens, i int) bool {
	if tokens[i].Type != token.StringType {
		return false
	}
	return i == 0 || (tokens[i-1].Type != token.LiteralType && tokens[i-1].Type != token.FoldedType)
}

// setScalar gives tokens[i] its substituted text. An unquoted one is typed
// again, as YAML types what is written (8 an integer, true a boolean), and
// an empty one is null, as "key:" with nothing after it is.
func setScalar(tokens token.Tokens, i int, value string) {
	tk := tokens[i]
	if !isPlain(tokens, i) {
		tk.Value = value
		return
	}
	typed := token.New(value, tk.Origin, tk.Position)
	if value == "" {
		typed = token.New("null", tk.Origin, tk.Position)
	}
	tk.Type, tk.CharacterType, tk.Indicator, tk.Value = typed.Type, typed.CharacterType, typed.Indicator, typed.Value
}

func nextToken(tokens token.Tokens, i int) *token.Token {
	if i+1 < len(tokens) {
		return tokens[i+1]
	}
	return nil
}

// span is where tokens[i] is written, in runes: from its start to the
// next token's. A block scalar's text starts on the line after its | or >,
// and is its Origin.
func (s sourceIndex) span(tokens token.Tokens, i int) (start, end int) {
	size := len(s.runes)
	if !isPlain(tokens, i) && tokens[i].Type == token.StringType {
		if line := tokens[i-1].Position.Line; line < len(s.lineStarts) {
			start = s.lineStarts[line]
			return start, min(start+len([]rune(tokens[i].Origin)), size)
		}
	}
	start, end = s.offset(tokens[i].Position), size
	if next := nextToken(tokens, i); next != nil {
		end = max(s.offset(next.Position), start)
	}
	return start, end
}

// offset is the rune offset of a token's line and column (the lexer's own
// offsets drift after a block scalar).
func (s sourceIndex) offset(pos *token.Position) int {
	if pos == nil || pos.Line < 1 || pos.Line > len(s.lineStarts) {
		return len(s.runes)
	}
	return min(s.lineStarts[pos.Line-1]+max(pos.Column-1, 0), len(s.runes))
}

// sourceIndex places rune offsets of a file at their line and column.
type sourceIndex struct {
	runes      []rune
	lineStarts []int // rune offset of each line's first rune
}

func newSourceIndex(data []byte) sourceIndex {
	s := sourceIndex{runes: []rune(string(data)), lineStarts: []int{0}}
	for i, r := range s.runes {
		if r == '\n' {
			s.lineStarts = append(s.lineStarts, i+1)
		}
	}
	return s
}

func (s sourceIndex) errorAt(offset int, msg string) Error {
	line := sort.Search(len(s.lineStarts), func(i int) bool { return s.lineStarts[i] > offset })
	return Error{Line: line, Column: offset - s.lineStarts[line-1] + 1, Msg: msg}
}
