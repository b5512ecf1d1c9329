package scenario

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Orders of a data source: how its rows are handed out.
const (
	// OrderSequential hands rows out in file order, one per iteration
	// (closed loop) or arrival (open loop), shared by everyone using it.
	OrderSequential = "sequential"
	// OrderRandom picks a row at random, from the virtual user's (or the
	// workload's) seeded source: the same seed picks the same rows.
	OrderRandom = "random"
	// OrderUnique gives each virtual user a row of its own for the whole
	// run (closed loop), or each arrival a row no other arrival gets.
	OrderUnique = "unique"
)

// DataOrders are the accepted values of a data source's order.
var DataOrders = []string{OrderSequential, OrderRandom, OrderUnique}

// What a data source does once every row has been handed out.
const (
	ExhaustedWrap = "wrap" // start over from the first row
	ExhaustedStop = "stop" // stop the workloads that use it
)

// ExhaustedActions are the accepted values of when_exhausted.
var ExhaustedActions = []string{ExhaustedWrap, ExhaustedStop}

// DataSource is a named table of test data, read from a CSV file (the
// header row names the fields) or a JSON-lines file (one object of scalar
// fields per line). Templates read its fields as {{name.field}}.
//
//	data:
//	  - {name: users, file: users.csv, order: unique, when_exhausted: stop}
type DataSource struct {
	Name string `yaml:"name"`
	// File is relative to the scenario file's folder, like body_file; .csv
	// is read as CSV, .jsonl and .ndjson as JSON lines.
	File string `yaml:"file"`
	// Order is sequential (default), random or unique.
	Order string `yaml:"order"`
	// WhenExhausted is wrap (default) or stop.
	WhenExhausted string `yaml:"when_exhausted"`

	// Fields and Rows are the file's content, read by Validate: Rows[i][j]
	// is row i's value of Fields[j].
	Fields []string   `yaml:"-"`
	Rows   [][]string `yaml:"-"`
}

// Field is the index of a field by name, -1 when the source has none.
func (d *DataSource) Field(name string) int {
	for i, f := range d.Fields {
		if f == name {
			return i
		}
	}
	return -1
}

// DataSourceByName returns the scenario's source of that name, nil when none.
func (s *Scenario) DataSourceByName(name string) *DataSource {
	for i := range s.Data {
		if s.Data[i].Name == name {
			return &s.Data[i]
		}
	}
	return nil
}

func (d *DataSource) applyDefaults() {
	if d.Order == "" {
		d.Order = OrderSequential
	}
	if d.WhenExhausted == "" {
		d.WhenExhausted = ExhaustedWrap
	}
}

// data checks the scenario's data sources, reads their files, and checks
// which sources each workload uses.
func (v *validator) data(s *Scenario) {
	names := map[string]bool{}
	for i := range s.Data {
		d := &s.Data[i]
		path := fmt.Sprintf("data[%d]", i)
		switch {
		case !isIdentifier(d.Name):
			v.addf(path+".name", "a data source needs a name of letters, digits and _ (it is written {{name.field}}), got %q", d.Name)
		case names[d.Name]:
			v.addf(path+".name", "data source name %q is used twice; names must be unique", d.Name)
		case isHelper(d.Name):
			v.addf(path+".name", "%q is the name of a template helper; name the data source otherwise", d.Name)
		}
		names[d.Name] = true
		v.oneOf(path+".order", "order", d.Order, DataOrders)
		v.oneOf(path+".when_exhausted", "when_exhausted", d.WhenExhausted, ExhaustedActions)
		if d.File == "" {
			v.add(path+".file", "a data source needs file: a .csv or .jsonl file")
			continue
		}
		d.Fields, d.Rows = nil, nil // (Validate may run again, after a change)
		content, err := v.paths.read(d.File, MaxDataFileBytes)
		if err != nil {
			v.addf(path+".file", "data file %q: %v", d.File, err)
			continue
		}
		if err := d.parse(content); err != nil {
			var located Error
			if errors.As(err, &located) {
				located.File, _ = v.paths.resolve(d.File)
				v.errs = append(v.errs, located)
				continue
			}
			v.addf(path+".file", "data file %q: %v", d.File, err)
		}
	}
	for i := range s.Workload {
		for j, name := range s.Workload[i].Uses {
			if !names[name] {
				known := make([]string, len(s.Data))
				for k := range s.Data {
					known[k] = s.Data[k].Name
				}
				v.oneOf(fmt.Sprintf("workload[%d].uses[%d]", i, j), "data source", name, known)
			}
		}
	}
}

// parse reads the file's content by its extension into Fields and Rows. A
// malformed row is an Error at its line and column in the data file.
func (d *DataSource) parse(content []byte) error {
	switch strings.ToLower(filepath.Ext(d.File)) {
	case ".csv":
		return d.parseCSV(content)
	case ".jsonl", ".ndjson":
		return d.parseJSONLines(content)
	}
	return fmt.Errorf("expected a .csv, .jsonl or .ndjson file")
}

func (d *DataSource) parseCSV(content []byte) error {
	r := csv.NewReader(bytes.NewReader(content))
	r.ReuseRecord = false
	header, err := r.Read()
	if err == io.EOF {
		return Error{Line: 1, Column: 1, Msg: "the file is empty; expected a header row naming the fields"}
	}
	if err != nil {
		return csvError(err)
	}
	for j, f := range header {
		f = strings.TrimSpace(f)
		if j == 0 {
			f = strings.TrimPrefix(f, "\ufeff")
		}
		if !isIdentifier(f) {
			return Error{Line: 1, Column: 1, Msg: fmt.Sprintf("field %d of the header, %q, is not a name of letters, digits and _", j+1, f)}
		}
		if d.Field(f) >= 0 {
			return Error{Line: 1, Column: 1, Msg: fmt.Sprintf("field %q is named twice in the header", f)}
		}
		d.Fields = append(d.Fields, f)
	}
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return csvError(err)
		}
		d.Rows = append(d.Rows, row)
	}
	if len(d.Rows) == 0 {
		return Error{Line: 2, Column: 1, Msg: "no rows after the header"}
	}
	return nil
}

// csvError places a CSV error (a row with the wrong number of fields, a
// stray quote) at its line and column.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Error{Line: pe.Line, Column: max(pe.Column, 1), Msg: pe.Err.Error()}
	}
	return err
}

func (d *DataSource) parseJSONLines(content []byte) error {
	index := map[string]int{}
	line := 0
	for len(content) > 0 {
		line++
		text, rest, _ := bytes.Cut(content, []byte("\n"))
		content = rest
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil || obj == nil {
			col := 1
			var se *json.SyntaxError
			if errors.As(err, &se) {
				col = int(se.Offset)
			}
			return Error{Line: line, Column: max(col, 1), Msg: "expected one JSON object per line, such as {\"name\": \"alice\"}"}
		}
		if len(d.Rows) == 0 {
			// The first object names the fields, in a stable order.
			for k := range obj {
				d.Fields = append(d.Fields, k)
			}
			slices.Sort(d.Fields)
			for j, f := range d.Fields {
				if !isIdentifier(f) {
					return Error{Line: line, Column: 1, Msg: fmt.Sprintf("field %q is not a name of letters, digits and _", f)}
				}
				index[f] = j
			}
		}
		if len(obj) != len(d.Fields) {
			return Error{Line: line, Column: 1, Msg: fmt.Sprintf("expected the fields of the first line (%s), got %d fields", strings.Join(d.Fields, ", "), len(obj))}
		}
		row := make([]string, len(d.Fields))
		for k, val := range obj {
			j, ok := index[k]
			if !ok {
				return Error{Line: line, Column: 1, Msg: fmt.Sprintf("field %q is not among those of the first line (%s)", k, strings.Join(d.Fields, ", "))}
			}
			s, ok := scalarString(val)
			if !ok {
				return Error{Line: line, Column: 1, Msg: fmt.Sprintf("field %q is an object or a list; expected a string, number, boolean or null", k)}
			}
			row[j] = s
		}
		d.Rows = append(d.Rows, row)
	}
	if len(d.Rows) == 0 {
		return Error{Line: max(line, 1), Column: 1, Msg: "the file holds no JSON object"}
	}
	return nil
}

// scalarString writes a JSON scalar as a template renders it.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// isIdentifier reports whether s is a name templates can refer to.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
