package report

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	for name, res := range map[string]*Result{"fixture": fixtureResult(), "saturated": saturatedResult()} {
		var first bytes.Buffer
		if err := WriteJSON(&first, res); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := ReadJSON(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := normalized(res)
		if !reflect.DeepEqual(got, want) {
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(want)
			t.Fatalf("%s: round trip changed the result\n got %s\nwant %s", name, a, b)
		}
		var second bytes.Buffer
		if err := WriteJSON(&second, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("%s: writing the read result gave different bytes", name)
		}
	}
}

func TestWriteJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &Result{SchemaVersion: SchemaVersion, Verdict: VerdictPass}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"{\n  \"schema_version\": 1,\n",
		`"requirements": []`, `"nodes": []`, `"faults": []`, `"windows": []`, `"workloads": []`, `"errors": {}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "null") {
		t.Errorf("null in result.json:\n%s", out)
	}
}

func TestWriteJSONRefusesNonFiniteFigures(t *testing.T) {
	res := fixtureResult()
	res.Nodes[2].Utilisation = math.NaN()
	err := WriteJSON(&bytes.Buffer{}, res)
	if err == nil || !strings.Contains(err.Error(), "result.nodes[2].utilisation") {
		t.Fatalf("got %v, want an error naming result.nodes[2].utilisation", err)
	}
	res = fixtureResult()
	res.Workloads[1].LatencyMS.P99 = math.Inf(1)
	err = WriteJSON(&bytes.Buffer{}, res)
	if err == nil || !strings.Contains(err.Error(), "result.workloads[1].latency_ms.p99") {
		t.Fatalf("got %v, want an error naming result.workloads[1].latency_ms.p99", err)
	}
}

func TestReadJSONErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"newer schema", `{"schema_version": 2, "verdict": "pass"}`, "result has schema_version 2; this version of ilities reads schema_version 1"},
		{"not a result", `{"verdict": "pass"}`, "not an ilities result: no schema_version field"},
		{"malformed", "{\n  \"schema_version\": 1,\n  \"verdict\": pass\n}", "malformed result JSON at line 3, column"},
		{"wrong type", "{\n  \"schema_version\": 1,\n  \"seed\": \"42\"\n}", "malformed result JSON at line 3"},
		{"empty", "", "malformed result JSON"},
	}
	for _, c := range cases {
		_, err := ReadJSON(strings.NewReader(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs", "first")
	res := fixtureResult()
	written, err := WriteFiles(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"errors.png", "junit.xml", "latency-spectrum.png", "latency.hlog", "latency.png", "node-requests.png",
		"report.html", "result.json", "summary.md", "throughput.png"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("files %v, want %v (and no temporary files)", names, want)
	}
	slices.Sort(written)
	if !reflect.DeepEqual(written, want) {
		t.Fatalf("WriteFiles says it wrote %v, want %v", written, want)
	}
	f, err := os.Open(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, normalized(res)) {
		t.Fatal("result.json does not read back as the result")
	}
	md, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	var wantMD bytes.Buffer
	if err := WriteMarkdown(&wantMD, res); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, wantMD.Bytes()) {
		t.Fatal("summary.md differs from WriteMarkdown")
	}

	// A directory that cannot be created is an error, not a panic.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFiles(filepath.Join(blocker, "out"), res); err == nil {
		t.Fatal("WriteFiles under a regular file succeeded")
	}
}

func TestRendererFor(t *testing.T) {
	for _, name := range []string{"text", "json", "markdown", "md"} {
		r, err := RendererFor(name)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := r(&buf, fixtureResult()); err != nil || buf.Len() == 0 {
			t.Errorf("%s: %d bytes, err %v", name, buf.Len(), err)
		}
	}
	if _, err := RendererFor("yaml"); err == nil || !strings.Contains(err.Error(), "json, markdown, text") {
		t.Errorf("unknown format: %v", err)
	}
}
