package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/external"
)

// Each name of a registry (strategies, fault kinds, output formats,
// requirement metrics) must be everywhere a user meets it: accepted by
// validation, offered by the CLI's help and completion, mapped or refused
// for nginx and HAProxy, and listed in the docs' tables. The docs are
// written by hand, so a name registered without its rows fails here.

func TestEveryStrategyIsAcceptedOfferedMappedAndDocumented(t *testing.T) {
	runHelp := cliOut(t, "run", "--help")
	compareHelp := cliOut(t, "compare", "--help")
	runCompletion := completions(t, "run", "--strategy", "")
	compareCompletion := completions(t, "compare", "--strategies", "round-robin,")
	strategyRow := docRow(t, "docs/scenario.md", "`proxy.strategy`")
	hybrid := docTable(t, "docs/scenario.md", "| strategy | nginx")
	readme := docParagraph(t, "README.md", "Strategies of the built-in proxy:")
	for _, name := range balancer.Names() {
		t.Run(name, func(t *testing.T) {
			yaml := "sut: {proxy: {strategy: " + name + "}, pools: [{name: a, backends: [{name: a1}]}]}\nworkload: [{rate: 10/s}]\n"
			if _, err := scenario.Parse("s.yaml", []byte(yaml)); err != nil {
				t.Errorf("validation refuses it: %v", err)
			}
			if !strings.Contains(runHelp, name) || !strings.Contains(compareHelp, name) {
				t.Error("missing from the help of run --strategy or compare --strategies")
			}
			if !slices.Contains(runCompletion, name) || !slices.Contains(compareCompletion, "round-robin,"+name) {
				t.Errorf("not completed: run --strategy offers %v, compare --strategies %v", runCompletion, compareCompletion)
			}
			if !strings.Contains(strategyRow[3], "`"+name+"`") {
				t.Error("missing from docs/scenario.md's proxy.strategy row")
			}
			if !strings.Contains(readme, "`"+name+"`") {
				t.Error("missing from README.md's list of strategies")
			}
			row := rowNaming(hybrid, name)
			if row == nil {
				t.Fatal("no row in docs/scenario.md's table of nginx and HAProxy equivalents")
			}
			for i, kind := range []string{external.Nginx, external.HAProxy} {
				mapped := slices.Contains(external.Strategies(kind), name)
				if accepted := slices.Contains(scenario.ExternalStrategies[kind], name); mapped != accepted {
					t.Errorf("%s: mapped %v, validation accepts it %v", kind, mapped, accepted)
				}
				if documented := !strings.HasPrefix(row[i+1], "—"); documented != mapped {
					t.Errorf("%s: mapped %v, but docs/scenario.md says %q", kind, mapped, row[i+1])
				}
			}
		})
	}
}

func TestEveryFaultKindIsImplementedAndDocumented(t *testing.T) {
	table := docTable(t, "docs/faults.md", "| kind | fields |")
	scenarioRow := docRow(t, "docs/scenario.md", "`kind`")
	resultRow := docRow(t, "docs/result-format.md", "`kind`")
	resultKinds := strings.Split(resultRow[2], ", ")
	for _, kind := range scenario.FaultKinds {
		t.Run(kind, func(t *testing.T) {
			if !slices.Contains(sut.FaultKinds(), kind) {
				t.Error("the built-in SUT cannot inject it")
			}
			if rowNaming(table, kind) == nil {
				t.Error("no row in docs/faults.md's table")
			}
			if !strings.Contains(scenarioRow[3], "`"+kind+"`") {
				t.Error("missing from docs/scenario.md's faults kind row")
			}
			if !slices.Contains(resultKinds, kind) {
				t.Error("missing from docs/result-format.md's faults kind row")
			}
		})
	}
}

func TestEveryOutputFormatIsOfferedAndDocumented(t *testing.T) {
	readme := docParagraph(t, "README.md", "`ilities run --format ")
	for _, cmd := range []string{"run", "attack", "merge", "report"} {
		help := cliOut(t, cmd, "--help")
		offered := completions(t, cmd, "--format", "")
		for _, format := range report.Formats() {
			if !strings.Contains(help, format) {
				t.Errorf("%s --help does not name format %s", cmd, format)
			}
			if !slices.Contains(offered, format) {
				t.Errorf("%s --format does not complete %s: %v", cmd, format, offered)
			}
		}
	}
	for _, format := range report.Formats() {
		if !strings.Contains(readme, format) {
			t.Errorf("README.md's `ilities run --format` does not name %s", format)
		}
		if _, err := report.RendererFor(format); err != nil {
			t.Error(err)
		}
	}
}

func TestEveryMetricIsDocumented(t *testing.T) {
	table := docTable(t, "docs/scenario.md", "| metric | unit of VALUE |")
	for _, m := range scenario.Metrics {
		if rowNaming(table, m.Name) == nil {
			t.Errorf("%s: no row in docs/scenario.md's table of metrics", m.Name)
		}
	}
}

// Every command is in the architecture's list of cmd/ilities and shown in
// the README in use ("ilities NAME ...").
func TestCommandNamesAreDocumented(t *testing.T) {
	row := docRow(t, "docs/architecture.md", "`cmd/ilities`")
	readme := readDoc(t, "README.md")
	for _, cmd := range newRootCmd().Commands() {
		name := cmd.Name()
		if cmd.Hidden || name == "help" || name == "completion" {
			continue
		}
		if !strings.Contains(row[1], "`"+name+"`") {
			t.Errorf("%s: missing from docs/architecture.md's cmd/ilities row", name)
		}
		if !regexp.MustCompile(`\bilities ` + name + `\b`).MatchString(readme) {
			t.Errorf("%s: the README never shows it in use (ilities %s ...)", name, name)
		}
	}
}

// cliOut runs the CLI and returns what it printed on stdout.
func cliOut(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != exitPass {
		t.Fatalf("ilities %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// completions asks the CLI, as a shell does, for the completions of the
// last argument.
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	out := cliOut(t, append([]string{"__complete"}, args...)...)
	var got []string
	for line := range strings.Lines(out) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, ":") {
			got = append(got, line)
		}
	}
	return got
}

// readDoc reads a file of the repository.
func readDoc(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docTable returns the body rows of the Markdown table of file whose header
// row begins with header, each split into its cells.
func docTable(t *testing.T, file, header string) [][]string {
	t.Helper()
	var rows [][]string
	in := false
	for line := range strings.Lines(readDoc(t, file)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, header):
			in = true
		case in && strings.HasPrefix(line, "| ---"):
		case in && strings.HasPrefix(line, "|"):
			rows = append(rows, cells(line))
		case in:
			return rows
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table headed %q", file, header)
	}
	return rows
}

// docRow returns the cells of the first table row of file whose first cell
// is first.
func docRow(t *testing.T, file, first string) []string {
	t.Helper()
	for line := range strings.Lines(readDoc(t, file)) {
		if c := cells(strings.TrimSpace(line)); len(c) > 1 && c[0] == first {
			return c
		}
	}
	t.Fatalf("%s: no table row %q", file, first)
	return nil
}

// docParagraph returns the paragraph of file that holds the text start,
// from there to the next blank line.
func docParagraph(t *testing.T, file, start string) string {
	t.Helper()
	doc := readDoc(t, file)
	i := strings.Index(doc, start)
	if i < 0 {
		t.Fatalf("%s: no %q", file, start)
	}
	p, _, _ := strings.Cut(doc[i:], "\n\n")
	return p
}

// rowNaming returns the row whose first cell names `name` in code.
func rowNaming(rows [][]string, name string) []string {
	for _, r := range rows {
		if strings.Contains(r[0], "`"+name+"`") {
			return r
		}
	}
	return nil
}

func cells(line string) []string {
	if !strings.HasPrefix(line, "|") {
		return nil
	}
	c := strings.Split(strings.Trim(line, "|"), " | ")
	for i := range c {
		c[i] = strings.TrimSpace(c[i])
	}
	return c
}
