package report

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/ilities/ilities/internal/procs"
	"github.com/ilities/ilities/scenario"
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
	// CPUs are the machine's logical CPUs, or its cgroup's CPU limit when
	// lower: what the generator (and the built-in SUT beside it) could use.
	CPUs int `json:"cpus,omitempty"`
	// GOMAXPROCS is the process's own setting, without the processors the
	// event loops borrow while they run (internal/procs).
	GOMAXPROCS int `json:"gomaxprocs,omitempty"`
	// OpenFilesLimit is the generator's open-file limit (RLIMIT_NOFILE,
	// raised to the hard limit at start): the most connections it could hold.
	OpenFilesLimit uint64 `json:"open_files_limit,omitempty"`
	// StartAt is run --start-at as given ("next:30s"); PlannedStart the
	// instant it named, and T0 the run's actual time origin (as Started),
	// within runner.StartTolerance of it. All three are empty for a run
	// that started as soon as it was ready.
	StartAt      string    `json:"start_at,omitempty"`
	PlannedStart time.Time `json:"planned_start,omitzero"`
	T0           time.Time `json:"t0,omitzero"`
	// Simulation is the machine constants a simulated run's model used
	// and where they came from; nil for a live run.
	Simulation *SimulationModel `json:"simulation,omitempty"`
}

// SimulationModel is what a simulation took of the machine a live run
// would use: a network hop's delay and the built-in proxy's own cost per
// request, the built-in defaults or those ilities calibrate measured.
type SimulationModel struct {
	NetworkDelayUS float64 `json:"network_delay_us"`
	ProxyCostUS    float64 `json:"proxy_cost_us"`
	// Source is SourceDefault or SourceCalibration.
	Source string `json:"source"`
	// The calibration's file, when it was measured and on what machine;
	// Disturbed when every round of it had a probe the host disturbed.
	File       string    `json:"file,omitempty"`
	Calibrated time.Time `json:"calibrated,omitzero"`
	Machine    string    `json:"machine,omitempty"`
	Disturbed  bool      `json:"disturbed,omitempty"`
}

// Where a simulation's constants came from (SimulationModel.Source).
const (
	SourceDefault     = "default"
	SourceCalibration = "calibration"
)

// String says which constants the model used and where they came from.
func (m *SimulationModel) String() string {
	constants := fmt.Sprintf("network delay %s a hop, proxy cost %s a request", micros(m.NetworkDelayUS), micros(m.ProxyCostUS))
	if m.Source != SourceCalibration {
		return constants + " (built-in defaults: ilities calibrate measures this machine's)"
	}
	disturbed := ""
	if m.Disturbed {
		disturbed = ", every round disturbed by the host"
	}
	return fmt.Sprintf("%s (calibrated %s on %s%s: %s)", constants, m.Calibrated.UTC().Format("2006-01-02"), m.Machine, disturbed, m.File)
}

// micros is a duration in microseconds as time.Duration writes it.
func micros(us float64) string { return time.Duration(us * float64(time.Microsecond)).String() }

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
		CPUs:         scenario.ThisMachine().CPUs,
		GOMAXPROCS:   procs.Base(),
	}
	if path == "" {
		return m
	}
	if data, err := os.ReadFile(path); err == nil && len(data) <= manifestYAMLLimit {
		m.ScenarioYAML = string(data)
	}
	return m
}
