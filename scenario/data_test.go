package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes files into a fresh folder and returns its path.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const dataHead = `duration: 1s
target: {url: "http://127.0.0.1:8080"}
data:
  - {name: users, file: users.csv}
  - {name: items, file: items.jsonl, order: random}
`

func TestDataSourcesAreReadByTheirExtension(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"s.yaml":      dataHead + "workload: [{rate: 1/s}]\n",
		"users.csv":   "name,password\nalice,a1\n\"bob, jr\",b2\n",
		"items.jsonl": `{"sku": 7, "label": "pen", "gift": false, "note": null}` + "\n\n" + `{"sku": 8, "label": "ink", "gift": true, "note": "x"}` + "\n",
	})
	sc, err := Load(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	users, items := sc.DataSourceByName("users"), sc.DataSourceByName("items")
	if strings.Join(users.Fields, ",") != "name,password" || len(users.Rows) != 2 || users.Rows[1][0] != "bob, jr" {
		t.Errorf("users: fields %v rows %q", users.Fields, users.Rows)
	}
	if users.Order != OrderSequential || users.WhenExhausted != ExhaustedWrap {
		t.Errorf("defaults: order %q when_exhausted %q", users.Order, users.WhenExhausted)
	}
	if strings.Join(items.Fields, ",") != "gift,label,note,sku" || strings.Join(items.Rows[0], ",") != "false,pen,,7" || strings.Join(items.Rows[1], ",") != "true,ink,x,8" {
		t.Errorf("items: fields %v rows %q", items.Fields, items.Rows)
	}
}

// Each problem is reported at its place: a data file's own line and column
// for a malformed row, the scenario's for a template.
func TestDataAndTemplateProblemsNameTheirPlace(t *testing.T) {
	goodData := map[string]string{
		"users.csv":   "name,password\nalice,a1\n",
		"items.jsonl": `{"sku": 7}` + "\n",
	}
	cases := []struct {
		name     string
		files    map[string]string
		workload string
		want     string // file:line:column: and the start of the message
	}{
		{"csv row with a missing field", map[string]string{"users.csv": "name,password\nalice,a1\nbob\n"}, "[{rate: 1/s}]",
			"users.csv:3:1: wrong number of fields"},
		{"jsonl line not an object", map[string]string{"items.jsonl": `{"sku": 7}` + "\n" + `{"sku": 8,}` + "\n"}, "[{rate: 1/s}]",
			"items.jsonl:2:"},
		{"jsonl nested value", map[string]string{"items.jsonl": `{"sku": {"id": 1}}` + "\n"}, "[{rate: 1/s}]",
			`items.jsonl:1:1: field "sku" is an object or a list`},
		{"empty csv", map[string]string{"users.csv": ""}, "[{rate: 1/s}]",
			"users.csv:1:1: the file is empty"},
		{"unknown field", nil, "\n  - rate: 1/s\n    uses: [users]\n    requests: [{path: \"/u/{{users.nmae}}\"}]",
			`s.yaml:9:23: data source "users" has no field "nmae" (did you mean "name"?)`},
		{"source not used", nil, "\n  - rate: 1/s\n    requests: [{path: \"/u/{{users.name}}\"}]",
			`s.yaml:8:23: data source "users" is not in this workload's uses:; add uses: [users]`},
		{"unknown source", nil, "\n  - rate: 1/s\n    requests: [{path: \"/u/{{people.name}}\"}]",
			`s.yaml:8:23: unknown data source "people"`},
		{"unknown helper", nil, "\n  - rate: 1/s\n    requests: [{path: \"/u/{{uuid4}}\"}]",
			`s.yaml:8:23: unknown variable or helper "uuid4" (did you mean "uuid"?)`},
		{"random needs bounds", nil, "\n  - rate: 1/s\n    requests: [{path: \"/u/{{random 9 1}}\"}]",
			`s.yaml:8:23: expected {{random MIN MAX}} with integers MIN <= MAX`},
		{"unclosed", nil, "\n  - rate: 1/s\n    requests: [{body: \"{{uuid\"}]",
			`s.yaml:8:23: "{{" without its "}}"`},
		{"user_id in an open workload", nil, "\n  - rate: 1/s\n    requests: [{headers: {X-User: \"{{user_id}}\"}}]",
			`s.yaml:8:35: {{user_id}} needs virtual users (model: closed)`},
		{"variable before its extraction", nil, `
  - model: closed
    users: 1
    session:
      - {path: "/a/{{token}}"}
      - {path: /login, extract: {token: {json: token}}}`,
			`s.yaml:10:16: variable "token" is extracted by this step or a later one`},
		{"templated Host", nil, "\n  - rate: 1/s\n    requests: [{headers: {Host: \"{{uuid}}.example\"}}]",
			`s.yaml:8:33: the Host header is set once per target`},
		{"extract in an open workload", nil, "\n  - rate: 1/s\n    requests: [{path: /login, extract: {token: {json: token}}}]",
			"s.yaml:8:40: extract: belongs to the steps of a session"},
		{"extract with two sources", nil, `
  - model: closed
    users: 1
    session: [{path: /login, extract: {token: {json: token, header: X-Token}}}]`,
			`s.yaml:9:47: expected exactly one of json:`},
		{"regex without a group", nil, `
  - model: closed
    users: 1
    session: [{path: /login, extract: {id: {regex: "id=[0-9]+"}}}]`,
			`s.yaml:9:52: the regular expression "id=[0-9]+" has no capture group`},
		{"json check without exists or equals", nil, "\n  - rate: 1/s\n    expect: {json: [{path: token}]}",
			"s.yaml:8:21: expected exactly one of exists: true|false or equals: VALUE"},
		{"unknown source in uses", nil, "\n  - rate: 1/s\n    uses: [user]",
			`s.yaml:8:12: unknown data source "user" (did you mean "users"?)`},
		{"template in a body file", map[string]string{"body.json": "{\n  \"id\": \"{{item.sku}}\"\n}\n"}, "\n  - rate: 1/s\n    requests: [{method: POST, body_file: body.json}]",
			`body.json:2:10: unknown data source "item" in {{item.sku}} (did you mean "items"?)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range goodData {
				files[k] = v
			}
			for k, v := range tc.files {
				files[k] = v
			}
			files["s.yaml"] = dataHead + "workload: " + tc.workload + "\n"
			dir := writeFiles(t, files)
			_, err := Load(filepath.Join(dir, "s.yaml"))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want scenario errors, got %v", err)
			}
			for _, e := range errs {
				if strings.HasPrefix(e.Error(), filepath.Join(dir, tc.want)) {
					return
				}
			}
			t.Errorf("want an error starting %q, got:\n%v", tc.want, err)
		})
	}
}

func TestTemplatesCompileIntoParts(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"users.csv":   "name,password\nalice,a1\n",
		"items.jsonl": `{"sku": 7}` + "\n",
		"s.yaml": dataHead + `workload:
  - model: closed
    users: 2
    uses: [users]
    session:
      - {path: /login, extract: {token: {json: auth.token}, sid: {cookie: sid}}}
      - path: "/u/{{users.name}}?q={{sid}}"
        headers: {Authorization: "Bearer {{token}}", Accept: text/plain}
        body: "n={{iteration}}&u={{ user_id }}&r={{random 1 6}}"
`,
	})
	sc, err := Load(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The CLI validates again after its flags change a scenario: the same outcome.
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := sc.DataSourceByName("users"); len(d.Fields) != 2 || len(d.Rows) != 1 {
		t.Errorf("validated twice: users has fields %v rows %v", d.Fields, d.Rows)
	}
	w := sc.Workload[0]
	if strings.Join(w.Variables, ",") != "sid,token" {
		t.Errorf("variables %v, want sid,token (each step's in name order)", w.Variables)
	}
	if w.Session[0].Templates != nil {
		t.Errorf("a step without placeholders has templates: %+v", w.Session[0].Templates)
	}
	tm := w.Session[1].Templates
	want := []TemplatePart{
		{Kind: TemplateLiteral, Text: "/u/"},
		{Kind: TemplateField, Source: 0, Field: 0},
		{Kind: TemplateLiteral, Text: "?q="},
		{Kind: TemplateVariable, Var: 0, InQuery: true},
	}
	if tm == nil || len(tm.Path.Parts) != len(want) {
		t.Fatalf("path template %+v", tm)
	}
	for i := range want {
		if tm.Path.Parts[i] != want[i] {
			t.Errorf("path part %d: %+v, want %+v", i, tm.Path.Parts[i], want[i])
		}
	}
	if len(tm.Headers) != 1 || tm.Headers[0].Name != "Authorization" || tm.Headers[0].Value.Parts[1] != (TemplatePart{Kind: TemplateVariable, Var: 1}) {
		t.Errorf("header templates %+v", tm.Headers)
	}
	kinds := []TemplateKind{}
	for _, p := range tm.Body.Parts {
		kinds = append(kinds, p.Kind)
	}
	wantKinds := []TemplateKind{TemplateLiteral, TemplateIteration, TemplateLiteral, TemplateUserID, TemplateLiteral, TemplateRandom}
	if len(kinds) != len(wantKinds) || tm.Body.Parts[5].Min != 1 || tm.Body.Parts[5].Max != 6 {
		t.Errorf("body parts %+v", tm.Body.Parts)
	}
	for i := range wantKinds {
		if i < len(kinds) && kinds[i] != wantKinds[i] {
			t.Errorf("body part %d: kind %d, want %d", i, kinds[i], wantKinds[i])
		}
	}
}
