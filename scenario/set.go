package scenario

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Set is one value given on the command line for a field of the scenario
// (--set workload.0.rate=200/s). It is put into the parsed file before
// decoding, so it is read and validated exactly as the file's own values,
// and replaces the file's value there, if any.
type Set struct {
	// Path is the field's YAML path: keys and list indexes joined by dots,
	// "workload.0.rate" (or "workload[0].rate").
	Path string
	// Value is one scalar, typed as YAML types an unquoted one (8 an
	// integer, true a boolean, "" null); anything else is a string.
	Value string
	// Flag names the set in messages; "--set PATH" when empty.
	Flag string
}

// ParseSet reads "path=value", the form of --set.
func ParseSet(text string) (Set, error) {
	path, value, ok := strings.Cut(text, "=")
	if !ok || strings.TrimSpace(path) == "" {
		return Set{}, fmt.Errorf("--set %s: expected path=value, such as workload.0.rate=200/s", text)
	}
	return Set{Path: strings.TrimSpace(path), Value: value}, nil
}

func (s Set) name() string {
	if s.Flag != "" {
		return s.Flag
	}
	return "--set " + s.Path
}

// setLine is the line given to the nodes of the i-th set, setLine+i: past
// any line a file within MaxFileBytes has, so that an error found at one
// is told apart from the file's and named by its set (setOrigin).
const setLine = MaxFileBytes + 2

// setOrigin renames an error at a set's node after the set ("--set
// workload.0.rate: expected a rate ..."); others are left as they are.
func setOrigin(e *Error, sets []Set) {
	if i := e.Line - setLine; e.Line >= setLine && i < len(sets) {
		e.File, e.Line, e.Column, e.Path = sets[i].name(), 0, 0, ""
	}
}

// applySets puts each set into the document whose root is *root, creating
// the mappings and list items its path leads through, in order (a later set
// of the same path wins). Their text counts against budget, the bytes left
// under MaxFileBytes.
func applySets(root *ast.Node, sets []Set, budget int) Errors {
	var errs Errors
	for i, s := range sets {
		if budget -= len(s.Path) + len(s.Value); budget < 0 {
			return append(errs, Error{File: s.name(), Msg: fmt.Sprintf(
				"expected a scenario of at most %s with the values set on the command line, and this one takes it past: %s",
				limitFileSize, limitFileSize.Why)})
		}
		elems, err := splitSetPath(s.Path)
		if err == nil {
			p := setter{pos: &token.Position{Line: setLine + i, Column: 1}, value: s.Value}
			err = p.put(root, reflect.TypeOf(Scenario{}), elems, "")
		}
		if err != nil {
			errs = append(errs, Error{File: s.name(), Msg: err.Error()})
		}
	}
	return errs
}

// splitSetPath reads "workload.0.rate" or "workload[0].rate".
func splitSetPath(path string) ([]string, error) {
	elems := strings.Split(strings.NewReplacer("[", ".", "]", "").Replace(path), ".")
	for _, e := range elems {
		if e == "" {
			return nil, fmt.Errorf("expected a path such as workload.0.rate (keys and list indexes joined by dots), got %q", path)
		}
	}
	return elems, nil
}

type setter struct {
	pos   *token.Position
	value string
}

// put sets the value at elems below the node in *slot, of Go type t; done
// is the path walked so far, for messages.
func (p setter) put(slot *ast.Node, t reflect.Type, elems []string, done string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	slot = underAnchor(slot)
	if alias, ok := (*slot).(*ast.AliasNode); ok {
		line, col := nodePos(alias)
		return fmt.Errorf("%s is an alias (*%s, at line %d, column %d): set the anchored value's path instead",
			describePath(done), alias.Value, line, col)
	}
	composite := !reflect.PointerTo(t).Implements(nodeUnmarshalerType) &&
		(t.Kind() == reflect.Struct || t.Kind() == reflect.Slice || t.Kind() == reflect.Map)
	if len(elems) == 0 {
		if composite {
			return fmt.Errorf("%s is %s: set one of its %s", describePath(done), kindName(t), setChildren(t, done))
		}
		*slot = p.scalar()
		return nil
	}
	if !composite {
		return fmt.Errorf("%s is a single value: it has no %q", describePath(done), elems[0])
	}
	key := elems[0]
	switch t.Kind() {
	case reflect.Slice:
		seq, err := p.sequenceAt(slot, done)
		if err != nil {
			return err
		}
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i > len(seq.Values) {
			return fmt.Errorf("%s is a list of %d item(s): expected an index from 0 to %d (%d adds one), got %q",
				done, len(seq.Values), len(seq.Values), len(seq.Values), key)
		}
		if i == len(seq.Values) {
			seq.Values = append(seq.Values, ast.Null(p.token("null")))
		}
		return p.put(&seq.Values[i], t.Elem(), elems[1:], done+"."+key)
	case reflect.Struct:
		fields := yamlFields(t)
		f, ok := fields.byName[key]
		if !ok {
			return unknownSetField(key, done, fields.names)
		}
		mv, err := p.entry(slot, key, done)
		if err != nil {
			return err
		}
		return p.put(&mv.Value, f.Type, elems[1:], joinPath(done, key))
	default: // a map: any key
		mv, err := p.entry(slot, key, done)
		if err != nil {
			return err
		}
		return p.put(&mv.Value, t.Elem(), elems[1:], joinPath(done, key))
	}
}

// entry is the mapping entry for key in *slot, added when missing; a
// missing or null mapping is made.
func (p setter) entry(slot *ast.Node, key, done string) (*ast.MappingValueNode, error) {
	if *slot == nil || (*slot).Type() == ast.NullType {
		*slot = ast.Mapping(p.token("{"), false)
	}
	mapping, ok := (*slot).(*ast.MappingNode)
	if !ok {
		return nil, p.shapeError(*slot, done, "a mapping")
	}
	for _, mv := range mapping.Values {
		if mv.Key.Type() != ast.MergeKeyType && mv.Key.GetToken().Value == key {
			return mv, nil
		}
	}
	mv := ast.MappingValue(p.token(":"), ast.String(p.token(key)), ast.Null(p.token("null")))
	mapping.Values = append(mapping.Values, mv)
	return mv, nil
}

// sequenceAt is the list in *slot; a missing or null one is made.
func (p setter) sequenceAt(slot *ast.Node, done string) (*ast.SequenceNode, error) {
	if *slot == nil || (*slot).Type() == ast.NullType {
		*slot = ast.Sequence(p.token("["), false)
	}
	seq, ok := (*slot).(*ast.SequenceNode)
	if !ok {
		return nil, p.shapeError(*slot, done, "a list")
	}
	return seq, nil
}

func (p setter) shapeError(n ast.Node, done, want string) error {
	line, col := nodePos(n)
	return fmt.Errorf("%s should be %s, and the file has %s there (line %d, column %d)", describePath(done), want, shapeName(n), line, col)
}

// scalar is the value as a node, typed as YAML types an unquoted scalar.
func (p setter) scalar() ast.Node {
	if p.value == "" {
		return ast.Null(p.token("null"))
	}
	tk := p.token(p.value)
	switch tk.Type {
	case token.IntegerType, token.BinaryIntegerType, token.OctetIntegerType, token.HexIntegerType:
		return ast.Integer(tk)
	case token.FloatType:
		return ast.Float(tk)
	case token.BoolType:
		return ast.Bool(tk)
	case token.NullType:
		return ast.Null(tk)
	case token.InfinityType:
		return ast.Infinity(tk)
	case token.NanType:
		return ast.Nan(tk)
	}
	return ast.String(token.String(p.value, p.value, p.pos))
}

func (p setter) token(text string) *token.Token { return token.New(text, text, p.pos) }

// underAnchor is the slot of the value an anchor or tag names.
func underAnchor(slot *ast.Node) *ast.Node {
	for {
		switch v := (*slot).(type) {
		case *ast.AnchorNode:
			slot = &v.Value
		case *ast.TagNode:
			slot = &v.Value
		default:
			return slot
		}
	}
}

// setChildren says what a --set may name below a mapping or a list.
func setChildren(t reflect.Type, done string) string {
	switch t.Kind() {
	case reflect.Slice:
		return fmt.Sprintf("items: %s.0, %s.1, ...", done, done)
	case reflect.Map:
		return fmt.Sprintf("keys: %s.NAME", done)
	}
	return "fields: " + strings.Join(yamlFields(t).names, ", ")
}

func unknownSetField(key, done string, known []string) error {
	where := "in " + done
	if done == "" {
		where = "at the top level"
	}
	if s := closest(key, known); s != "" {
		return fmt.Errorf("unknown field %q %s; did you mean %q? (fields there: %s)", key, where, s, strings.Join(known, ", "))
	}
	return fmt.Errorf("unknown field %q %s; expected one of: %s", key, where, strings.Join(known, ", "))
}
