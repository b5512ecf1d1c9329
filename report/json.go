package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
)

// WriteJSON writes res as indented JSON (result.json). The output is
// stable: fields in declaration order, map keys sorted, and absent lists
// written as [] rather than null so that consumers can iterate them.
// A NaN or infinite figure is an error naming the field, since JSON cannot
// hold it and a silent zero would be a wrong figure.
func WriteJSON(w io.Writer, res *Result) error {
	out := normalized(res)
	if err := checkFinite(reflect.ValueOf(out).Elem(), "result"); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// ReadJSON reads a result written by WriteJSON. It refuses a document of
// another schema_version, or one that is not a result at all, with an
// error saying so; malformed JSON is reported with its line and column.
func ReadJSON(r io.Reader) (*Result, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading result: %w", err)
	}
	var probe struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, jsonError(data, err)
	}
	switch {
	case probe.SchemaVersion == nil:
		return nil, errors.New("not an ilities result: no schema_version field")
	case *probe.SchemaVersion != SchemaVersion:
		return nil, fmt.Errorf("result has schema_version %d; this version of ilities reads schema_version %d",
			*probe.SchemaVersion, SchemaVersion)
	}
	res := new(Result)
	if err := json.Unmarshal(data, res); err != nil {
		return nil, jsonError(data, err)
	}
	return res, nil
}

// jsonError places a decoding error at its line and column.
func jsonError(data []byte, err error) error {
	return fmt.Errorf("malformed result JSON%s: %w", JSONPosition(data, err), err)
}

// JSONPosition is where in data a JSON decoding error lies, as " at line
// L, column C", or "" when the error does not tell its offset.
func JSONPosition(data []byte, err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	offset := int64(-1)
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	if offset < 0 {
		return ""
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf(" at line %d, column %d", line, col)
}

// normalized returns a shallow copy of res whose nil lists and maps are
// empty, so the JSON holds [] and {} instead of null.
func normalized(res *Result) *Result {
	out := *res
	out.Requirements = nonNil(out.Requirements)
	out.Nodes = nonNil(out.Nodes)
	out.Faults = nonNil(out.Faults)
	out.Windows = nonNil(out.Windows)
	out.Stats.Errors = nonNilMap(out.Stats.Errors)
	out.Workloads = make([]WorkloadResult, len(res.Workloads))
	for i, w := range res.Workloads {
		w.Errors = nonNilMap(w.Errors)
		out.Workloads[i] = w
	}
	if res.Requests != nil {
		out.Requests = make([]RequestResult, len(res.Requests))
		for i, r := range res.Requests {
			r.Errors = nonNilMap(r.Errors)
			out.Requests[i] = r
		}
	}
	return &out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// checkFinite walks v and reports the first NaN or infinite float by its
// JSON path, e.g. "result.nodes[2].utilisation".
func checkFinite(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("cannot write %s = %v as JSON", path, f)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkFinite(v.Elem(), path)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := checkFinite(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if err := checkFinite(iter.Value(), fmt.Sprintf("%s[%v]", path, iter.Key())); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			p := path
			if !f.Anonymous {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "-" {
					continue
				}
				if name == "" {
					name = f.Name
				}
				p += "." + name
			}
			if err := checkFinite(v.Field(i), p); err != nil {
				return err
			}
		}
	}
	return nil
}
