package workflow

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Every file a workflow writes has the mode of the report package's files
// (0644: results are meant to be shared), not a temporary file's 0600.
func TestWrittenFilesAreSharedLikeReports(t *testing.T) {
	capacity := &Capacity{Scenario: "modes", MaxRateRPS: 20, FailRateRPS: 40, Steps: []Step{
		{RateRPS: 10, Phase: "bracket", Attempt: 1, Pass: true, Valid: true, P50MS: 1, MeanMS: 1, P99MS: 2},
		{RateRPS: 20, Phase: "bracket", Attempt: 1, Pass: true, Valid: true, P50MS: 1, MeanMS: 2, P99MS: 4},
		{RateRPS: 40, Phase: "bracket", Attempt: 1, Valid: true, P50MS: 5, MeanMS: 8, P99MS: 30},
	}}
	cases := []struct {
		name  string
		write func(dir string) error
		files []string
	}{
		{"capacity", capacity.WriteFiles, []string{"capacity.json", "capacity.md", "latency-vs-load.png"}},
		{"json", func(dir string) error { return writeJSON(filepath.Join(dir, "x.json"), capacity) }, []string{"x.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.write(dir); err != nil {
				t.Fatal(err)
			}
			for _, name := range tc.files {
				info, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if got := info.Mode().Perm(); got != 0o644 {
					t.Errorf("%s: mode %v, want %v", name, got, fs.FileMode(0o644))
				}
			}
		})
	}
}
