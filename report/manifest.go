package report

import (
	"os"
	"runtime"
)

// Manifest records how a run was made, so that a reader can repeat it. The
// seed and the tool's version are Result.Seed and Result.Tool; command-line
// overrides (--seed, --strategy) show there, not in ScenarioYAML.
type Manifest struct {
	// ScenarioFile is the path the scenario was loaded from.
	ScenarioFile string `json:"scenario_file,omitempty"`
	// ScenarioYAML is that file's text, read when the run started.
	ScenarioYAML string `json:"scenario_yaml,omitempty"`
	GoVersion    string `json:"go_version,omitempty"`
	// Platform is GOOS/GOARCH of the generator.
	Platform string `json:"platform,omitempty"`
	// CPUs is the number of logical CPUs the generator could use.
	CPUs int `json:"cpus,omitempty"`
	// OpenFilesLimit is the generator's open-file limit (RLIMIT_NOFILE,
	// raised to the hard limit at start): the most connections it could hold.
	OpenFilesLimit uint64 `json:"open_files_limit,omitempty"`
}

// manifestYAMLLimit bounds the scenario text kept in a result: a scenario
// is a few kilobytes, and a result must stay small whatever file it names.
const manifestYAMLLimit = 1 << 20

// NewManifest describes a run of the scenario file at path on this machine.
// A file that cannot be read (or path "") leaves ScenarioYAML empty: the
// manifest is a record, never a reason for a run to fail.
func NewManifest(path string) Manifest {
	m := Manifest{
		ScenarioFile: path,
		GoVersion:    runtime.Version(),
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:         runtime.GOMAXPROCS(0),
	}
	if path == "" {
		return m
	}
	if data, err := os.ReadFile(path); err == nil && len(data) <= manifestYAMLLimit {
		m.ScenarioYAML = string(data)
	}
	return m
}
