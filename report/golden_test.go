package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// checkGolden compares got with testdata/name, or rewrites the file under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestWriteTextGolden(t *testing.T) {
	cases := []struct {
		golden string
		res    *Result
		// in order of appearance
		want []string
		// must not appear
		absent []string
	}{
		{
			golden: "text.golden",
			res:    fixtureResult(),
			want: []string{
				"checkout under backend failure\n",
				"target http://127.0.0.1:41234  strategy least-connections  seed 42  measured 60.0s\n",
				"48000 scheduled = 47790 succeeded + 180 failed + 30 dropped",
				"796.5/s  request rate 799.5/s  target 800.0/s",
				"error rate    0.38%",
				"99.56% of requests  98.33% of time",
				"status codes  200: 47790  503: 60\n",
				"service latency",
				"timeout", "at 20.3s: no response within the timeout",
				"5xx", "at 20.0s: status 503 Service Unavailable",
				"refused", "connect: connection refused",
				"browse", "shoppers",
				// Each request of the workloads, in the scenario's order.
				"request                    workload",
				"GET /item/{{products.id}}  browse", "search                     browse", "POST /cart                 shoppers",
				"app-1", "app-2", "app-3",
				"fairness 0.9",
				"crash",
				"app-1            720h  30.0min (declared)", "service", "99.99999960%",
				"single points of failure (1)", "proxy", "(sut.proxy.replicas: 1)",
				"PASS  throughput >= 700/s",
				"FAIL  p99(latency) < 40ms for shoppers",
				`PASS  p95(latency) < 40ms for "search"`,
				"VERDICT: FAIL - 1 of 6 requirements failed\n",
			},
			absent: []string{"reset", "SATURATED", "INCOMPLETE", "MISMATCH", "404"},
		},
		{
			golden: "text_saturated.golden",
			res:    saturatedResult(),
			want: []string{
				"checkout under backend failure  INCOMPLETE",
				"measured 41.2s of 60.0s",
				"GENERATOR SATURATED: results understate the load\n  send rate fell to 93.1% of the schedule; 30 arrivals dropped\n",
				"48000 scheduled",
				"at 20.3s: no response within the timeout",
				// One workload: its requests without a workload column.
				"request                    scheduled",
				"GET /item/{{products.id}}",
				"no workload checkout in the result",
				"FAIL  dropped == 0",
				"VERDICT: FAIL - 2 of 3 requirements failed (generator saturated, run incomplete)\n",
			},
			// One workload: no workload table. No faults: no fault table.
			absent: []string{"workload  scheduled", "detected after", "5xx"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteText(&buf, tc.res); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			pos := 0
			for _, w := range tc.want {
				i := strings.Index(out[pos:], w)
				if i < 0 {
					t.Errorf("missing (or out of order) %q after byte %d", w, pos)
					continue
				}
				pos += i + len(w)
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output contains %q", a)
				}
			}
			for n, line := range strings.Split(out, "\n") {
				if w := utf8.RuneCountInString(line); w > textWidth {
					t.Errorf("line %d is %d columns wide: %q", n+1, w, line)
				}
				if strings.HasSuffix(line, " ") {
					t.Errorf("line %d has trailing blanks: %q", n+1, line)
				}
				if strings.Contains(line, "\x1b") {
					t.Errorf("line %d has an escape sequence: %q", n+1, line)
				}
			}
			checkGolden(t, tc.golden, buf.Bytes())
		})
	}
}

func TestWriteTextSaturatedLineComesBeforeFigures(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, saturatedResult()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	var firstFigure, saturated = -1, -1
	for i, l := range lines {
		if saturated < 0 && strings.HasPrefix(l, "GENERATOR SATURATED") {
			saturated = i
		}
		if firstFigure < 0 && strings.HasPrefix(l, "requests") {
			firstFigure = i
		}
	}
	if saturated < 0 || firstFigure < 0 || saturated > firstFigure {
		t.Fatalf("saturation line at %d, first figure at %d; want the warning first:\n%s", saturated, firstFigure, buf.String())
	}
}

func TestWriteTextAccountingMismatchIsLoud(t *testing.T) {
	res := fixtureResult()
	res.Totals.Succeeded -= 7
	var buf bytes.Buffer
	if err := WriteText(&buf, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"48000 scheduled != 47783 succeeded + 180 failed + 30 dropped\n",
		"\nACCOUNTING MISMATCH: succeeded + failed + dropped + cut = 47993, scheduled = 48000 (-7)\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("want %q in:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := WriteMarkdown(&buf, res); err != nil {
		t.Fatal(err)
	}
	if want := "> **ACCOUNTING MISMATCH: succeeded + failed + dropped + cut = 47993, scheduled = 48000 (-7)**"; !strings.Contains(buf.String(), want) {
		t.Errorf("markdown misses %q:\n%s", want, buf.String())
	}
}

func TestWriteMarkdownGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, fixtureResult()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"### ❌ checkout under backend failure\n",
		"**VERDICT: FAIL - 1 of 6 requirements failed**",
		"| ❌ fail | `p99(latency) < 40ms for shoppers` | 61.3ms | 40.0ms | -21.3ms |",
		"| ✅ pass | `p95(latency) < 40ms for \"search\"` | 31.7ms | 40.0ms | +8.30ms |",
		"| first failures | timeout at 20.3s: no response within the timeout<br>5xx at 20.0s:",
		"| status codes | 200: 47790 · 503: 60 |",
		"| `GET /item/{{products.id}}` | browse | 35000 | 581.7/s | 3.90ms | 41.0ms | 0.24% |",
		"| ✅ pass | `throughput >= 700/s` | 796.5/s | 700.0/s | +96.5/s |",
		"| requests | 48000 scheduled = 47790 succeeded + 180 failed + 30 dropped |",
		"| app-3 | 18785 | 39.2% | 1.5 | - |",
		"Projected availability: 99.99999960% (downtime 127ms a year).",
		"| proxy | every request passes the proxy, and it has one replica (sut.proxy.replicas: 1) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(out, "SATURATED") {
		t.Error("unsaturated run reported as saturated")
	}
	checkGolden(t, "summary.golden.md", buf.Bytes())

	buf.Reset()
	if err := WriteMarkdown(&buf, saturatedResult()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"> **GENERATOR SATURATED**: send rate fell to 93.1% of the schedule (30 arrivals dropped) - results understate the load.",
		"> **INCOMPLETE**: measured 41.2s of 60.0s.",
		"(no workload checkout in the result) | n/a | 100ms | - |",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("saturated summary misses %q:\n%s", want, buf.String())
		}
	}
}

func TestMarkdownCellKeepsPipesInside(t *testing.T) {
	if got, want := markdownCell(markdownEscape("a|b\nc_d")), `a\|b c\_d`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// On a terminal the verdict words are coloured, each where WriteText puts
// it, and nothing else changes: the escapes removed, the text is WriteText's.
func TestWriteTextInColourPaintsOnlyTheVerdictWords(t *testing.T) {
	for name, res := range map[string]*Result{"fixture": fixtureResult(), "saturated": saturatedResult()} {
		var plain, coloured bytes.Buffer
		if err := WriteText(&plain, res); err != nil {
			t.Fatal(err)
		}
		if err := WriteTextInColour(&coloured, res); err != nil {
			t.Fatal(err)
		}
		escape := regexp.MustCompile("\x1b\\[[0-9;]*m")
		if got := escape.ReplaceAllString(coloured.String(), ""); got != plain.String() {
			t.Errorf("%s: without its colours the text differs from WriteText:\n%s", name, got)
		}
		painted := regexp.MustCompile("\x1b\\[3[123]m(PASS|FAIL|INCONCLUSIVE)\x1b\\[0m").FindAllString(coloured.String(), -1)
		// The headline, each requirement's row and the last line.
		if want := len(res.Requirements) + 2; len(painted) != want || len(escape.FindAllString(coloured.String(), -1)) != 2*want {
			t.Errorf("%s: %d verdict words painted, want %d:\n%s", name, len(painted), want, coloured.String())
		}
		if !strings.HasPrefix(coloured.String(), "VERDICT: "+statusColours[strings.ToUpper(res.Verdict)]) {
			t.Errorf("%s: the headline's verdict is not coloured:\n%s", name, coloured.String())
		}
	}
}
