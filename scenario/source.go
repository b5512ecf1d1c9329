package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// StdinPath, as a scenario's path, reads it from LoadOptions.Stdin.
const StdinPath = "-"

// StdinName names a scenario read from standard input in messages
// ("<stdin>:3:7: ..."); the files it names are found from the working
// directory.
const StdinName = "<stdin>"

// LoadOptions is what a scenario is read with besides its own text: the
// command line's values and where variables come from.
type LoadOptions struct {
	// AllowPaths are folders, besides the scenario's own, that files it
	// names may be in (--allow-paths).
	AllowPaths []string
	// Sets are put into the file's values in order (--set path=value).
	Sets []Set
	// Target replaces the file's target: with {url: Target} (--target); a
	// scenario with a built-in sut: is then an error.
	Target string
	// Rate is the constant rate of every open workload (--rate); a staged
	// or closed workload is then an error.
	Rate string
	// Duration is the run's length (--duration).
	Duration string
	// Lookup finds the variables the file refers to (${NAME}); nil is
	// os.LookupEnv.
	Lookup LookupFunc
	// Stdin is read when the path is StdinPath.
	Stdin io.Reader
}

// LoadWith is LoadContext with the command line's values: it reads the
// scenario at path (from opts.Stdin when path is "-", bounded alike),
// substitutes its variables, puts opts' values into it, and decodes, fills
// defaults into and validates the result. An error in a value from the
// command line names its flag ("--set workload.0.rate: ...") instead of a
// place in the file.
func LoadWith(ctx context.Context, path string, opts LoadOptions) (*Scenario, error) {
	name, read := path, func() ([]byte, error) { return readLimited(path, MaxFileBytes) }
	if path == StdinPath {
		name, read = StdinName, func() ([]byte, error) {
			if opts.Stdin == nil {
				return nil, errors.New("no standard input")
			}
			return readAtMost(opts.Stdin, MaxFileBytes)
		}
	}
	data, err := readContext(ctx, read)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		reason := err.Error()
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			reason = pathErr.Err.Error()
		}
		return nil, Errors{{File: name, Msg: "cannot read the scenario file: " + reason, Err: err}}
	}
	return parseContext(ctx, name, data, opts)
}

// withFlags returns opts with --duration, --target and --rate as sets,
// after the file's and before the user's. Which workloads --rate sets
// depends on the file: it is read once with every workload's rate set, to
// find the open ones.
func (opts LoadOptions) withFlags(ctx context.Context, data []byte) (LoadOptions, Errors) {
	var sets []Set
	if opts.Duration != "" {
		sets = append(sets, Set{Path: "duration", Value: opts.Duration, Flag: "--duration"})
	}
	if opts.Target != "" {
		sets = append(sets, Set{Path: "target.url", Value: opts.Target, Flag: "--target"})
	}
	opts.Sets = append(sets, opts.Sets...)
	if opts.Rate == "" {
		return opts, nil
	}
	rateSet := func(i int) Set {
		return Set{Path: fmt.Sprintf("workload.%d.rate", i), Value: opts.Rate, Flag: "--rate"}
	}
	first := opts
	first.Rate = ""
	first.Sets = append([]Set(nil), opts.Sets...)
	for i := range countWorkloads(data) {
		first.Sets = append(first.Sets, rateSet(i))
	}
	s, _, errs := parse(ctx, data, first)
	if len(errs) > 0 || s == nil {
		return first, errs
	}
	for i, w := range s.Workload {
		name := w.Name
		if name == "" {
			name = fmt.Sprintf("workload %d", i)
		}
		switch {
		case w.Closed() || w.Users > 0:
			errs = append(errs, Error{File: "--rate", Msg: fmt.Sprintf(
				"%q is a closed workload (virtual users) and has no arrival rate; --rate sets the rate of open workloads (set its users with --set workload.%d.users=N)", name, i)})
		case len(w.Stages) > 0:
			errs = append(errs, Error{File: "--rate", Msg: fmt.Sprintf(
				"%q has stages (a rate that changes over time), and --rate sets a constant rate; set a stage with --set workload.%d.stages.N.hold=RATE", name, i)})
		default:
			opts.Sets = append(opts.Sets, rateSet(i))
		}
	}
	return opts, errs
}

// countWorkloads is the number of items of the file's workload: list, 0
// when it has none or cannot be read.
func countWorkloads(data []byte) int {
	if prescan(data) != nil {
		return 0
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil || len(file.Docs) == 0 {
		return 0
	}
	mapping, ok := file.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		return 0
	}
	for _, mv := range mapping.Values {
		if seq, ok := mv.Value.(*ast.SequenceNode); ok && mv.Key.GetToken().Value == "workload" {
			return len(seq.Values)
		}
	}
	return 0
}

// replaceTarget takes the file's target: out of the document, for
// --target's; a built-in sut: is an error, as the two are exclusive.
func replaceTarget(root ast.Node) *Error {
	mapping, ok := root.(*ast.MappingNode)
	if !ok {
		return nil // the walk says what the document should be
	}
	kept := mapping.Values[:0:0]
	for _, mv := range mapping.Values {
		switch mv.Key.GetToken().Value {
		case "sut":
			line, _ := nodePos(mv)
			return &Error{File: "--target", Msg: fmt.Sprintf(
				"the scenario has a built-in SUT (sut: at line %d), and --target points it at an external URL instead; remove sut: from the file, or run without --target", line)}
		case "target":
			continue
		}
		kept = append(kept, mv)
	}
	mapping.Values = kept
	return nil
}

// forgetSetPositions clears the places given to values from the command
// line, which are in no file.
func (s *Scenario) forgetSetPositions() {
	for i := range s.Requirements {
		if r := &s.Requirements[i]; r.Line >= setLine {
			r.Line, r.Column = 0, 0
		}
	}
}
