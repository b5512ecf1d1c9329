package scenario

import (
	"context"
	"os"
	"strings"
	"testing"
)

// env is a fixed set of variables for LoadOptions.Lookup.
func env(kv ...string) LookupFunc {
	vars := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func parseWith(data []byte, opts LoadOptions) (*Scenario, error) {
	return parseContext(context.Background(), "s.yaml", data, opts)
}

func TestVariablesSubstitute(t *testing.T) {
	tests := []struct {
		name  string
		yaml  []byte
		env   LookupFunc
		check func(*Scenario) string // "" when right, else what is wrong
	}{
		{
			name: "plain values are typed as written there",
			yaml: lines("target: {url: '${URL}'}", "seed: ${SEED}", "workload:", "  - rate: ${RATE}", "    max_inflight: ${INFLIGHT}"),
			env:  env("URL", "http://127.0.0.1:9/", "SEED", "7", "RATE", "200/s", "INFLIGHT", "12"),
			check: func(s *Scenario) string {
				if s.Target.URL != "http://127.0.0.1:9/" || s.Seed != 7 || s.Workload[0].Rate != 200 || s.Workload[0].MaxInflight != 12 {
					return "values not substituted"
				}
				return ""
			},
		},
		{
			name: "a default when unset or empty",
			yaml: lines("target: {url: 'http://127.0.0.1:9/'}", "name: ${NAME:-smoke}", "seed: ${SEED:-3}", "workload: [{rate: 5/s}]"),
			env:  env("NAME", ""),
			check: func(s *Scenario) string {
				if s.Name != "smoke" || s.Seed != 3 {
					return "defaults not used: name " + s.Name
				}
				return ""
			},
		},
		{
			name: "a set value wins over the default",
			yaml: lines("target: {url: 'http://127.0.0.1:9/'}", "seed: ${SEED:-3}", "workload: [{rate: 5/s}]"),
			env:  env("SEED", "9"),
			check: func(s *Scenario) string {
				if s.Seed != 9 {
					return "default used over the set value"
				}
				return ""
			},
		},
		{
			name: "an empty unquoted value is null: the field's default",
			yaml: lines("target: {url: 'http://127.0.0.1:9/'}", "seed: ${SEED}", "workload: [{rate: 5/s}]"),
			env:  env("SEED", ""),
			check: func(s *Scenario) string {
				if s.Seed != DefaultSeed {
					return "empty value did not leave the default"
				}
				return ""
			},
		},
		{
			name: "quoted stays a string, $${ is a literal ${, inside text too",
			yaml: lines("target: {url: 'http://127.0.0.1:9/'}", `name: "run ${N} of $${N} costs $5"`, "workload: [{rate: 5/s}]"),
			env:  env("N", "12"),
			check: func(s *Scenario) string {
				if s.Name != "run 12 of ${N} costs $5" {
					return "name " + s.Name
				}
				return ""
			},
		},
		{
			name: "block scalars and keys",
			yaml: lines("target: {url: 'http://127.0.0.1:9/'}", "workload:", "  - rate: 5/s", "    requests:",
				"      - method: POST", "        headers:", "          ${HEADER}: Bearer ${TOKEN}", "        body: |", `          {"user": "${USER_ID}"}`),
			env: env("HEADER", "Authorization", "TOKEN", "abc", "USER_ID", "42"),
			check: func(s *Scenario) string {
				r := s.Workload[0].Requests[0]
				if r.Headers["Authorization"] != "Bearer abc" || r.Body != `{"user": "42"}`+"\n" {
					return "request " + r.Body
				}
				return ""
			},
		},
		{
			name:  "comments are left alone",
			yaml:  lines("# ${UNSET} is not read here", "target: {url: 'http://127.0.0.1:9/'} # nor ${HERE}", "workload: [{rate: 5/s}]"),
			env:   env(),
			check: func(s *Scenario) string { return "" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseWith(tt.yaml, LoadOptions{Lookup: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(s); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestVariablesErrorsNamePosition(t *testing.T) {
	target := "target: {url: http://127.0.0.1:8080}"
	tests := []struct {
		name string
		yaml []byte
		env  LookupFunc
		want []string // every error, in order, exactly
	}{
		{
			name: "unset without a default, at its $, every one",
			yaml: lines(target, "name: run ${A}", "workload:", "  - rate: ${RATE}", `    timeout: "x${B} y${C}"`),
			env:  env("B", "1"),
			want: []string{
				`s.yaml:2:11: environment variable A is not set; set it, or give a default: ${A:-default}`,
				`s.yaml:4:11: environment variable RATE is not set; set it, or give a default: ${RATE:-default}`,
				`s.yaml:5:22: environment variable C is not set; set it, or give a default: ${C:-default}`,
			},
		},
		{
			name: "columns count characters, not bytes",
			yaml: lines(target, `name: "é ü ${A}"`, "workload: [{rate: 5/s}]"),
			env:  env(),
			want: []string{`s.yaml:2:12: environment variable A is not set; set it, or give a default: ${A:-default}`},
		},
		{
			name: "in a block scalar",
			yaml: lines(target, "workload:", "  - rate: 5/s", "    requests:", "      - body: |", "          line one", "          two ${X}"),
			env:  env(),
			want: []string{`s.yaml:7:15: environment variable X is not set; set it, or give a default: ${X:-default}`},
		},
		{
			name: "after a block scalar, on a plain scalar's second line, in a folded one",
			yaml: lines(target, "workload:", "  - rate: 5/s", "    requests:", "      - body: |", "          text", "        path: /a/${P}",
				"      - path: /b", "          /${Q}", "        body: >", "          folded", "          ${R}"),
			env: env(),
			want: []string{
				`s.yaml:7:18: environment variable P is not set; set it, or give a default: ${P:-default}`,
				`s.yaml:9:12: environment variable Q is not set; set it, or give a default: ${Q:-default}`,
				`s.yaml:12:11: environment variable R is not set; set it, or give a default: ${R:-default}`,
			},
		},
		{
			name: "a value's error points at the scalar in the file",
			yaml: lines(target, "workload:", "  - name: w", "    rate: ${RATE}"),
			env:  env("RATE", "fast"),
			want: []string{`s.yaml:4:11: expected a rate such as "800/s" or "48000/min", got "fast"`},
		},
		{
			name: "a validation error points at the scalar in the file",
			yaml: lines(target, "workload:", "  - name: w", "    rate: 5/s", "    max_inflight: ${N}"),
			env:  env("N", "-3"),
			want: []string{`s.yaml:5:19: max_inflight must be at least 1, got -3`},
		},
		{
			name: "malformed references",
			yaml: lines(target, "name: ${1A}", "workload: [{rate: 5/s}]", "requirements: ['error_rate < ${E']"),
			env:  env(),
			want: []string{
				`s.yaml:2:7: expected ${NAME} or ${NAME:-default} (NAME: letters, digits and _, not starting with a digit); write $${ for a literal ${, got "${1A}"`,
				`s.yaml:4:30: expected ${NAME} or ${NAME:-default} (NAME: letters, digits and _, not starting with a digit); write $${ for a literal ${, got "${E" with no closing }`,
			},
		},
		{
			name: "unquoted inside a flow collection",
			yaml: lines(target, "workload: [{rate: ${RATE}}]"),
			env:  env("RATE", "5/s"),
			want: []string{`s.yaml:2:19: a ${NAME} inside [...] or {...} must be quoted there, as in ["${NAME}"]: unquoted, { starts a mapping`},
		},
		{
			name: "a value may not take the file past its size limit",
			yaml: lines(target, "name: ${BIG}", "workload: [{rate: 5/s}]"),
			env:  env("BIG", strings.Repeat("x", MaxFileBytes)),
			want: []string{`s.yaml:2:7: expected a scenario file of at most 256KiB with its variables substituted, and ${BIG} takes it past: ` + limitFileSize.Why},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWith(tt.yaml, LoadOptions{Lookup: tt.env})
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestVariablesQuotedInFlowCollection(t *testing.T) {
	s, err := parseWith(lines("target: {url: 'http://127.0.0.1:9/'}", `workload: [{rate: "${RATE}"}]`), LoadOptions{Lookup: env("RATE", "40/s")})
	if err != nil {
		t.Fatal(err)
	}
	if s.Workload[0].Rate != 40 {
		t.Errorf("rate %v, want 40/s", s.Workload[0].Rate)
	}
}

// The example of docs/scenario.md loads as it says.
func TestVariablesDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/scenario.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Variables and `--set`")
	_, block, _ := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok || block == "" {
		t.Fatal("docs/scenario.md has no example of variables")
	}
	s, err := parseWith([]byte(block), LoadOptions{Lookup: env("API_TOKEN", "t0k", "RATE", "250/s")})
	if err != nil {
		t.Fatal(err)
	}
	w := s.Workload[0]
	if s.Target.URL != "http://127.0.0.1:8080" || s.Duration.D().Seconds() != 30 || w.Rate != 250 || w.MaxInflight != 200 ||
		w.Requests[0].Headers["Authorization"] != "Bearer t0k" || w.Requests[0].Body != `{"note": "costs ${PRICE}"}` ||
		s.Requirements[0].Threshold != 150 {
		t.Errorf("loaded %+v", s)
	}
	if _, err := parseWith([]byte(block), LoadOptions{Lookup: env()}); err == nil || !strings.Contains(err.Error(), "API_TOKEN is not set") {
		t.Errorf("without API_TOKEN: %v", err)
	}
}
