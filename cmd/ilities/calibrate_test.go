package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/sim"
)

// calibrate probes this machine end to end and writes what it measured
// where simulate looks by default; a calibration every round of which the
// host disturbed is not written unless allowed. The machine is shared, so
// the constants are checked for what any host gives (a hop takes time,
// neither constant takes 10 ms), not for values: the proxy's cost, the
// difference of two noisy figures, may be measured as none.
func TestCalibrateWritesWhereSimulateReads(t *testing.T) {
	if testing.Short() {
		t.Skip("live probes")
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	def, err := sim.DefaultCalibrationFile()
	if err != nil {
		t.Fatal(err)
	}
	short := []string{"calibrate", "--probe", "1s", "--rounds", "1", "--attempts", "1", "--quiet"}

	// Every second delays the apparatus by more than a nanosecond.
	code, stdout, stderr := runCLI(t, append(short, "--tolerate", "1ns")...)
	if _, err := os.Stat(def); code != exitRun || !strings.Contains(stderr, "nothing was written") || err == nil {
		t.Fatalf("every probe disturbed: exit %d (want %d), file %v\n%s\n%s", code, exitRun, err, stdout, stderr)
	}
	if !strings.Contains(stdout, "DISTURBED") {
		t.Errorf("what it measured does not say it was disturbed:\n%s", stdout)
	}

	code, stdout, stderr = runCLI(t, append(short, "--allow-disturbed")...)
	if code != exitPass || !strings.Contains(stdout, "wrote "+def) {
		t.Fatalf("exit %d, want %d and the default file written\n%s\n%s", code, exitPass, stdout, stderr)
	}
	c, err := sim.ReadCalibration(def)
	if err != nil {
		t.Fatal(err)
	}
	// Below 10 ms each on a machine that let the probes run; a calibration
	// the host disturbed is marked so, and its constants are the host's.
	for name, us := range map[string]float64{"network delay": c.NetworkDelayUS, "proxy cost": c.ProxyCostUS} {
		if us < 0 || (us >= 10_000 && !c.Disturbed) || (name == "network delay" && us == 0) {
			t.Errorf("%s %gµs, want a time below 10ms (disturbed: %v)", name, us, c.Disturbed)
		}
	}
	if c.Disturbed {
		t.Logf("the host disturbed every probe: network delay %gµs, proxy cost %gµs", c.NetworkDelayUS, c.ProxyCostUS)
	}
	if len(c.Rounds) != 1 || c.Machine.CPUs != runtime.NumCPU() || c.Machine.CPUModel == "" || time.Since(c.Calibrated) > time.Hour ||
		c.Plan.RateRPS != 300 || c.Plan.DurationS != 1 || c.Tool != "ilities "+version {
		t.Errorf("calibration %+v: want one round of 1s at 300/s, this machine, now", c)
	}
	for path, p := range map[string]sim.Probe{"direct": c.Rounds[0].Direct, "proxy": c.Rounds[0].Proxy} {
		if p.Requests != 300 || p.OutsideUS <= 0 || p.StationMS < 1 || p.LatencyMS <= p.StationMS {
			t.Errorf("%s probe %+v: want 300 requests of 1ms services, each spending time outside the backend", path, p)
		}
	}

	code, stdout, stderr = runCLI(t, "simulate", "testdata/pass.yaml", "--format", "json")
	res, err := report.ReadJSON(strings.NewReader(stdout))
	if err != nil {
		t.Fatalf("simulate: exit %d, %v\n%s", code, err, stderr)
	}
	if m := res.Manifest.Simulation; m == nil || m.Source != report.SourceCalibration || m.File != def || m.NetworkDelayUS != c.NetworkDelayUS {
		t.Errorf("simulate took %+v, want the calibration just written", m)
	}
}

// simulate takes the model's constants from --calibration FILE, else the
// default file when there is one, else the built-in defaults, and says
// which; a file that is no calibration is invalid input, named.
func TestSimulateReadsTheCalibration(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	t.Setenv("XDG_CONFIG_HOME", config)
	scenarioFile := writeScenario(t, `name: constant
duration: 2s
sut:
  pools: [{name: app, backends: [{name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}]}]
workload:
  - {rate: 50/s, requests: [{path: /}]}
`)
	calibrated := &sim.Calibration{SchemaVersion: sim.CalibrationSchema, Tool: "ilities test",
		Calibrated: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), Machine: sim.Machine{CPUModel: "Test CPU", CPUs: 4},
		NetworkDelayUS: 23.125, ProxyCostUS: 32.5}
	file := filepath.Join(dir, "calibration.json")
	if err := sim.WriteCalibration(file, calibrated); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	writeText(t, bad, `{"schema_version": 1, "network_delay_us": 20}`)
	def := filepath.Join(config, "ilities", "calibration.json")

	for _, tc := range []struct {
		name        string
		defaultFile string // the default file's text, "" for none
		args        []string
		source      string
		file        string
		latencyMS   float64 // each request's: 1 ms, four hops and the proxy
	}{
		{"the built-in defaults", "", nil, report.SourceDefault, "", 1 + (4*sim.DefaultNetworkDelay+sim.DefaultProxyCost).Seconds()*1000},
		{"--calibration FILE", "", []string{"--calibration", file}, report.SourceCalibration, file, 1.125},
		{"the default file", "copy", nil, report.SourceCalibration, def, 1.125},
		{"--calibration FILE over the default file", `{"schema_version": 1, "network_delay_us": 100, "proxy_cost_us": 100}`, []string{"--calibration", file}, report.SourceCalibration, file, 1.125},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(config)
			switch tc.defaultFile {
			case "":
			case "copy":
				if err := sim.WriteCalibration(def, calibrated); err != nil {
					t.Fatal(err)
				}
			default:
				writeText(t, def, tc.defaultFile)
			}
			out := t.TempDir()
			code, stdout, stderr := runCLI(t, append([]string{"simulate", scenarioFile, "--out", out}, tc.args...)...)
			if code != exitPass {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			res := readResultFile(t, filepath.Join(out, "result.json"))
			m := res.Manifest.Simulation
			if m == nil || m.Source != tc.source || m.File != tc.file {
				t.Fatalf("manifest.simulation %+v, want source %q, file %q", m, tc.source, tc.file)
			}
			if !strings.Contains(stderr, "model: "+m.String()) {
				t.Errorf("stderr does not say which constants: %q", stderr)
			}
			if l := res.LatencyMS; l.Min != tc.latencyMS || l.Mean != tc.latencyMS || l.Max != tc.latencyMS {
				t.Errorf("latency %+v, want each request's %gms", l, tc.latencyMS)
			}
		})
	}

	for _, tc := range []struct {
		name        string
		defaultFile string
		args        []string
		names       string
	}{
		{"a file that is no calibration", "", []string{"--calibration", bad}, bad},
		{"a file that is not there", "", []string{"--calibration", filepath.Join(dir, "none.json")}, "none.json"},
		{"a default file that is no calibration", "{", nil, def},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(config)
			if tc.defaultFile != "" {
				writeText(t, def, tc.defaultFile)
			}
			code, _, stderr := runCLI(t, append([]string{"simulate", scenarioFile, "--quiet"}, tc.args...)...)
			if code != exitInvalid || !strings.Contains(stderr, tc.names) {
				t.Errorf("exit %d, want %d naming %s: %s", code, exitInvalid, tc.names, stderr)
			}
		})
	}
}

// writeText writes text to path, creating its folder.
func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
