package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
)

// Load reads, decodes, fills defaults into and validates the scenario file
// at path; LoadContext with no deadline and no folder allowed besides the
// scenario's own.
func Load(path string) (*Scenario, error) {
	return LoadContext(context.Background(), path, nil)
}

// LoadContext reads, decodes, fills defaults into and validates the
// scenario file at path. allowPaths are folders, besides the scenario's
// own, that files it names may be in (--allow-paths).
//
// Every problem with the input comes back as Errors, each naming
// file:line:column and what was expected. A file that cannot be read is
// also reported as Errors, with one Error of Line 0 whose Err is the cause
// (errors.Is(err, fs.ErrNotExist) works), so callers treat every input
// problem alike. A file larger than MaxFileBytes is not read past it.
//
// When ctx ends first, it returns ctx's error (not Errors) between two
// stages, each bounded by the limits (StaticLimits) to well under a second.
func LoadContext(ctx context.Context, path string, allowPaths []string) (*Scenario, error) {
	return LoadWith(ctx, path, LoadOptions{AllowPaths: allowPaths})
}

// readContext is read until ctx ends: opening or reading a named pipe (or
// standard input) blocks until a writer comes, and a signal must still be
// answered. The read, if blocked, is left behind (the process is ending).
func readContext(ctx context.Context, read func() ([]byte, error)) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := read()
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readLimited reads at most max+1 bytes of the file at path: enough for
// prescan to say it is too large, however large it is (or endless, as a
// device is).
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAtMost(f, max)
}

// readAtMost reads r to its end or to max+1 bytes.
func readAtMost(r io.Reader, max int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, max+1))
}

// Parse decodes, fills defaults into and validates a scenario read from
// file (used in messages and as Scenario.File; it is not opened).
//
// Decoding collects every unknown field, mistyped scalar and malformed unit
// value in one pass; validation runs only on a file that decoded cleanly, and
// collects every problem it finds. Either way the result is Errors sorted by
// position.
func Parse(file string, data []byte) (*Scenario, error) {
	return parseContext(context.Background(), file, data, LoadOptions{})
}

func parseContext(ctx context.Context, file string, data []byte, opts LoadOptions) (*Scenario, error) {
	opts, errs := opts.withFlags(ctx, data)
	var s *Scenario
	var positions *parsed
	if len(errs) == 0 {
		s, positions, errs = parse(ctx, data, opts)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(errs) == 0 {
		s.File = file
		s.AllowPaths = opts.AllowPaths
		s.ApplyDefaults()
		if err := s.Validate(); err != nil {
			var verrs Errors
			if !errors.As(err, &verrs) {
				verrs = Errors{{Msg: err.Error()}}
			}
			errs = verrs
			for i := range errs {
				positions.locate(&errs[i])
			}
		}
	}
	if len(errs) > 0 {
		for i := range errs {
			if errs[i].File == "" { // (a data or body file's own problem keeps that file)
				errs[i].File = file
			}
			setOrigin(&errs[i], opts.Sets)
		}
		errs.sort()
		return nil, errs.unique()
	}
	s.forgetSetPositions()
	s.places = positions.index(opts.Sets)
	return s, nil
}

// ExtensionPrefix marks keys the loader ignores at any level, so a file can
// hold its own notes and YAML anchors: "x-defaults: &defaults {...}".
const ExtensionPrefix = "x-"

// parsed keeps what the YAML parse learned about positions, so that errors
// found later (by path) can point into the file.
type parsed struct {
	root  ast.Node
	nodes map[string]ast.Node // YAML path -> value node
	paths map[[2]int]string   // node position -> YAML path
}

// parse decodes data, with its variables substituted and opts' values set,
// collecting decode problems; it also returns the position index for
// placing validation errors.
func parse(ctx context.Context, data []byte, opts LoadOptions) (*Scenario, *parsed, Errors) {
	// Bounded before the parser sees it: its cost grows faster than the input.
	if e := prescan(data); e != nil {
		return nil, nil, Errors{*e}
	}
	if ctx.Err() != nil {
		return nil, nil, nil
	}
	tokens := lexer.Tokenize(string(data))
	grown, unresolved := substituteVariables(data, tokens, opts.Lookup)
	file, err := parser.Parse(tokens, 0)
	if err != nil && len(unresolved) > 0 {
		return nil, nil, unresolved.all() // the likelier cause
	}
	if err != nil {
		return nil, nil, Errors{decodeError(err, nil)}
	}
	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, nil, Errors{{Line: 1, Column: 1,
			Msg: "the file is empty; expected a scenario with sut: or target:, workload: and requirements:"}}
	}
	var errs Errors
	if len(docs) > 1 {
		line, col := nodePos(docs[1])
		errs = append(errs, Error{Line: line, Column: col,
			Msg: "expected one scenario per file, found a second YAML document here"})
	}

	if opts.Target != "" {
		if e := replaceTarget(docs[0].Body); e != nil {
			return nil, nil, append(errs, *e)
		}
	}
	if setErrs := applySets(&docs[0].Body, opts.Sets, MaxFileBytes-len(data)-grown); len(setErrs) > 0 {
		return nil, nil, append(errs, setErrs...)
	}
	if varErrs := unresolved.in(docs[0].Body); len(varErrs) > 0 {
		return nil, nil, append(errs, varErrs...)
	}
	if e := checkAliasExpansion(docs[0].Body); e != nil {
		return nil, nil, append(errs, *e)
	}
	if ctx.Err() != nil {
		return nil, nil, nil
	}
	p := &parsed{root: docs[0].Body, nodes: map[string]ast.Node{}, paths: map[[2]int]string{}}
	w := walker{parsed: p}
	w.walk(reflect.TypeOf(Scenario{}), p.root, "")
	errs = append(errs, w.errs...)

	var s Scenario
	if ctx.Err() != nil {
		return nil, nil, nil
	}
	collected := &errorList{}
	ctx = context.WithValue(ctx, errorListKey{}, collected)
	// Decoded from the parsed document, which holds the variables' values
	// and the sets.
	dec := yaml.NewDecoder(bytes.NewReader(nil), yaml.DisallowUnknownField(), yaml.AllowFieldPrefixes(ExtensionPrefix),
		// The parse above already rejects repeated keys; what the decoder would
		// call a duplicate here is a key overriding one merged in with "<<".
		yaml.AllowDuplicateMapKey())
	decodeErr := decodeGuarded(ctx, dec, docs[0].Body, &s)
	errs = append(errs, collected.errs...)
	if decodeErr != nil {
		e := decodeError(decodeErr, p.paths)
		// The walk already explained most shape problems and unknown
		// fields; goccy stops at the first and would repeat it.
		if !errs.hasLine(e.Line) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	return &s, p, nil
}

func (es Errors) hasLine(line int) bool {
	for _, e := range es {
		if e.Line == line {
			return true
		}
	}
	return false
}

// locate gives a validation error its place in the file: the node at its
// path, or the nearest enclosing node that exists (a missing field points
// at the mapping it is missing from).
func (p *parsed) locate(e *Error) {
	if p == nil || e.Line > 0 {
		return
	}
	for path := e.Path; ; path = parentPath(path) {
		if n, ok := p.nodes[path]; ok {
			e.Line, e.Column = nodePos(n)
			return
		}
		if path == "" {
			return
		}
	}
}

// parentPath drops the last element of a YAML path:
// "workload[0].rate" -> "workload[0]" -> "workload" -> "".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// walker checks the document's shape against the scenario types, reporting
// every unknown field (goccy reports only the first), and indexes each
// node by its YAML path.
type walker struct {
	*parsed
	errs Errors
}

var nodeUnmarshalerType = reflect.TypeOf((*interface {
	UnmarshalYAML(context.Context, ast.Node) error
})(nil)).Elem()

func (w *walker) walk(t reflect.Type, n ast.Node, path string) {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
			continue
		case *ast.TagNode:
			n = v.Value
			continue
		}
		break
	}
	if n == nil {
		return
	}
	w.nodes[path] = n
	line, col := nodePos(n)
	w.paths[[2]int{line, col}] = path
	if tokLine, tokCol := tokenPos(n.GetToken()); tokLine != line || tokCol != col {
		w.paths[[2]int{tokLine, tokCol}] = path
	}

	if n.Type() == ast.NullType || n.Type() == ast.AliasType {
		return // null keeps the default; aliases are checked where anchored
	}
	if reflect.PointerTo(t).Implements(nodeUnmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(t.Elem(), n, path)
	case reflect.Struct:
		mapping, ok := asMapping(n)
		if !ok {
			w.errorf(n, "expected a mapping (key: value) for %s, got %s", describePath(path), shapeName(n))
			return
		}
		fields := yamlFields(t)
		for _, mv := range mapping {
			if mv.Key.Type() == ast.MergeKeyType {
				continue
			}
			key := mv.Key.GetToken().Value
			if strings.HasPrefix(key, ExtensionPrefix) {
				continue
			}
			f, ok := fields.byName[key]
			if !ok {
				w.unknownField(mv.Key, key, path, fields.names)
				continue
			}
			w.walk(f.Type, mv.Value, joinPath(path, key))
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			w.errorf(n, `expected a list for %s (items start with "- "), got %s`, describePath(path), shapeName(n))
			return
		}
		for i, item := range seq.Values {
			w.walk(t.Elem(), item, path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Map:
		mapping, ok := asMapping(n)
		if !ok {
			w.errorf(n, "expected a mapping (key: value) for %s, got %s", describePath(path), shapeName(n))
			return
		}
		for _, mv := range mapping {
			w.walk(t.Elem(), mv.Value, joinPath(path, mv.Key.GetToken().Value))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		// goccy would truncate 1.5 to 1, and reports only the first bad scalar.
		if n.Type() != ast.IntegerType {
			w.errorf(n, "expected an integer for %s, got %s", lastElem(path), shapeName(n))
		}
	case reflect.String:
		if _, ok := scalarText(n); !ok {
			w.errorf(n, "expected a string for %s, got %s", lastElem(path), shapeName(n))
		}
	}
}

func asMapping(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

func (w *walker) errorf(n ast.Node, format string, args ...any) {
	line, col := nodePos(n)
	w.errs = append(w.errs, Error{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) unknownField(key ast.Node, name, path string, known []string) {
	where := "in " + path
	if path == "" {
		where = "at the top level"
	}
	if s := closest(name, known); s != "" {
		w.errorf(key, "unknown field %q %s; did you mean %q?", name, where, s)
		return
	}
	w.errorf(key, "unknown field %q %s; expected one of: %s", name, where, strings.Join(known, ", "))
}

func describePath(path string) string {
	if path == "" {
		return "the scenario"
	}
	return path
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type fieldSet struct {
	byName map[string]reflect.StructField
	names  []string
}

// yamlFields lists a struct's YAML keys in declaration order.
func yamlFields(t reflect.Type) fieldSet {
	fs := fieldSet{byName: map[string]reflect.StructField{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			// Inlined fields belong to the enclosing mapping.
			inner := yamlFields(f.Type)
			for _, n := range inner.names {
				fs.byName[n] = inner.byName[n]
				fs.names = append(fs.names, n)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs.byName[name] = f
		fs.names = append(fs.names, name)
	}
	return fs
}
