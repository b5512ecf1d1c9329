package scenario

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to the scenario loader. No input may
// panic; a rejection is Errors, each naming the file and saying what is
// wrong; an accepted scenario is valid (Validate agrees) and usable.
// Seeds: every scenario in testdata and examples, plus testdata/fuzz.
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, glob := range []string{"testdata/*.yaml", "../examples/*.yaml"} {
		files, _ := filepath.Glob(glob)
		seeds = append(seeds, files...)
	}
	for _, file := range seeds {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The bound is on the processor time parsing costs (alias bombs,
		// deep nesting), which a busy host does not stretch as it does
		// the wall clock.
		start, cpu := time.Now(), cpuTime()
		s, err := Parse("fuzz.yaml", data)
		if d := cpuTime() - cpu; d > 5*time.Second {
			t.Fatalf("parsing %d bytes cost %v of processor time (%v wall clock)", len(data), d, time.Since(start))
		}
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("rejection is not Errors: %T %v", err, err)
			}
			for _, e := range errs {
				if strings.TrimSpace(e.Msg) == "" || e.File != "fuzz.yaml" || e.Line < 0 || e.Column < 0 {
					t.Fatalf("unclear error %#v", e)
				}
			}
			if s != nil {
				t.Fatal("a scenario came back with errors")
			}
			return
		}
		if s == nil {
			t.Fatal("nil scenario without an error")
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted scenario fails Validate: %v", err)
		}
		if len(s.Workload) == 0 || s.Duration.D() <= 0 {
			t.Fatalf("accepted scenario has no workload or duration: %d %v", len(s.Workload), s.Duration)
		}
	})
}

// FuzzParseRequirement feeds arbitrary text to the requirement parser. No
// input may panic; a rejection has a message; an accepted requirement has
// an operator, a metric, a finite threshold, and reads the same again from
// its own text.
func FuzzParseRequirement(f *testing.F) {
	for _, s := range []string{
		"p99(latency) < 150ms for browse",
		"throughput >= 700/s",
		"availability >= 99.9%",
		"availability(time) >= 99%",
		"error_rate < 1%",
		"dropped == 0",
		"max(utilisation) <= 80%",
		"recovery_time <= 3s",
		"session_loss == 0 for shoppers",
		"p99.9(latency) < 1s",
		"p99.99(service_latency) <= 2s for browse",
		"p99.999(latency) < 1s",
		"latency = 5ms",
		"p99(latency) < ",
		"((p99(latency)) < 1ms",
		"throughput >= 1e308/s",
		"p99(latency) < -5ms for",
		`p95(latency) < 300ms for "POST /cart"`,
		`failed == 0 for "a\tb" `,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r, err := ParseRequirement(text)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if r.Op == "" || r.Metric == "" {
			t.Fatalf("accepted %q without operator or metric: %+v", text, r)
		}
		if math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
			t.Fatalf("accepted %q with threshold %v", text, r.Threshold)
		}
		again, err := ParseRequirement(r.Text)
		if err != nil {
			t.Fatalf("%q accepted, its text %q rejected: %v", text, r.Text, err)
		}
		if again != r {
			t.Fatalf("%q reads differently the second time: %+v vs %+v", text, r, again)
		}
		r.Compare(r.Threshold) // must not panic
	})
}

// TestHostileYAMLRejectedQuickly: inputs that crash or exhaust YAML
// libraries are rejected with a located error, fast.
func TestHostileYAMLRejectedQuickly(t *testing.T) {
	bomb := "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 9; i++ {
		bomb += fmt.Sprintf("a%d: &a%d [%s]\n", i, i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 8)+fmt.Sprintf("*a%d", i-1))
	}
	bomb += "name: *a9\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"alias bomb", bomb, "alias bomb"},
		{"tag on an empty sequence entry", "x-: 0\nsut:\n  proxy:\n   strategy: \n  pools:\n    - backends:\n        ! 0000000000000000\n00000008:00000000000000000: !000000000000000", "could not be decoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse("hostile.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "hostile.yaml:") {
				t.Fatalf("error %v, want one naming the file and saying %q", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}
