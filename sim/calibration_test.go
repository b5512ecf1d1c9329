package sim

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

// aCalibration is a calibration as calibrate writes one, its constants
// in fractions of a microsecond.
func aCalibration() *Calibration {
	probe := func(outside float64) Probe {
		return Probe{Requests: 3000, LatencyMS: 1.2, SendLagMS: 0.02, ServiceLatencyMS: 1 + outside/1000, StationMS: 1,
			OutsideUS: outside, ApparatusDelayP99MS: 0.4, HiccupP99MS: 0.08, CPUPressure: 0.01, Attempts: 1}
	}
	return &Calibration{
		SchemaVersion: CalibrationSchema, Tool: "ilities test",
		Calibrated:     time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
		Machine:        Machine{CPUModel: "Test CPU", CPUs: 4, Platform: "linux/amd64"},
		NetworkDelayUS: 23.125, ProxyCostUS: 32.5,
		Plan:   ProbePlan{RateRPS: 300, DurationS: 10, WarmupS: 1, ServiceUS: 1000, Rounds: 1, Attempts: 3, ToleratedMS: 1},
		Rounds: []CalibrationRound{{NetworkDelayUS: 23.125, ProxyCostUS: 32.5, Direct: probe(46.25), Proxy: probe(125)}},
	}
}

// A calibration written is read back as it was, its constants to the
// nanosecond.
func TestACalibrationRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "calibration.json")
	want := aCalibration()
	if err := WriteCalibration(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCalibration(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
	if o := got.Options(); o.NetworkDelay != 23125*time.Nanosecond || o.ProxyCost != 32500*time.Nanosecond {
		t.Errorf("options %+v, want 23.125µs a hop and 32.5µs a request", o)
	}
	for _, d := range []time.Duration{0, time.Nanosecond, 23250 * time.Nanosecond, 999_999_999} {
		if back := fromMicros(Micros(d)); back != d {
			t.Errorf("%v in microseconds and back is %v", d, back)
		}
	}
}

// A file that is not a calibration is an error naming the file, what is
// wrong with it, and what was expected.
func TestABadCalibrationIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name, text, says string
	}{
		{"empty", ``, "malformed JSON"},
		{"not JSON", "{\n  \"schema_version\": 1,\n  oops\n}", "at line 3, column"},
		{"a string for a number", `{"schema_version": 1, "network_delay_us": "20", "proxy_cost_us": 30}`, "at line 1"},
		{"no version", `{"network_delay_us": 20, "proxy_cost_us": 30}`, "no schema_version"},
		{"another version", `{"schema_version": 2, "network_delay_us": 20, "proxy_cost_us": 30}`, "schema_version 2"},
		{"no network delay", `{"schema_version": 1, "proxy_cost_us": 30}`, "no network_delay_us"},
		{"no proxy cost", `{"schema_version": 1, "network_delay_us": 20}`, "no proxy_cost_us"},
		{"a negative delay", `{"schema_version": 1, "network_delay_us": -1, "proxy_cost_us": 30}`, "network_delay_us -1 out of range"},
		{"a cost of hours", `{"schema_version": 1, "network_delay_us": 20, "proxy_cost_us": 4e9}`, "proxy_cost_us 4e+09 out of range"},
		{"an unknown field", `{"schema_version": 1, "network_delay_us": 20, "proxy_cost_us": 30, "proxy_cost": 30}`, `unknown field "proxy_cost"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "calibration.json")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadCalibration(path)
			if err == nil {
				t.Fatal("read as a calibration")
			}
			for _, want := range []string{path, tc.says, `"network_delay_us": µs`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
			if _, _, cerr := Constants(path); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Constants: %v, want the same error", cerr)
			}
		})
	}
}

// Without a file named, the constants are the default file's when there
// is one, else the built-in defaults; a default file that cannot be read
// is an error, not a silent fallback.
func TestConstantsComeFromTheDefaultFileWhenThereIsOne(t *testing.T) {
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	def, err := DefaultCalibrationFile()
	if err != nil || def != filepath.Join(config, "ilities", "calibration.json") {
		t.Fatalf("default file %q (%v), want it under $XDG_CONFIG_HOME", def, err)
	}

	opts, model, err := Constants("")
	if err != nil || opts != DefaultOptions() || model.Source != report.SourceDefault || model.NetworkDelayUS != 20 || model.ProxyCostUS != 30 {
		t.Errorf("no file: %+v, %+v, %v; want the built-in defaults", opts, model, err)
	}

	c := aCalibration()
	if err := WriteCalibration(def, c); err != nil {
		t.Fatal(err)
	}
	opts, model, err = Constants("")
	want := &report.SimulationModel{NetworkDelayUS: 23.125, ProxyCostUS: 32.5, Source: report.SourceCalibration, File: def,
		Calibrated: c.Calibrated, Machine: "Test CPU ×4"}
	if err != nil || opts != c.Options() || !reflect.DeepEqual(model, want) {
		t.Errorf("the default file: %+v, %+v, %v; want its constants, %+v", opts, model, err, want)
	}
	if s := model.String(); !strings.Contains(s, "23.125µs a hop") || !strings.Contains(s, "32.5µs a request") || !strings.Contains(s, "2025-03-01") || !strings.Contains(s, def) {
		t.Errorf("described as %q", s)
	}

	if err := os.WriteFile(def, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Constants(""); err == nil || !strings.Contains(err.Error(), def) {
		t.Errorf("a default file that is no calibration: %v, want an error naming it", err)
	}
}
