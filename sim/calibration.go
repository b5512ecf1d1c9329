package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/ilities/ilities/report"
)

// CalibrationSchema is the version of calibration.json's format.
const CalibrationSchema = 1

// Calibration is what ilities calibrate measured of this machine for the
// model: one network hop's delay and the built-in proxy's own cost per
// request, from live probes of the built-in SUT through real sockets, with
// the probes' figures to check them by. It is calibration.json, which
// ilities simulate reads.
type Calibration struct {
	SchemaVersion int       `json:"schema_version"`
	Tool          string    `json:"tool"` // "ilities <version>"
	Calibrated    time.Time `json:"calibrated"`
	Machine       Machine   `json:"machine"`
	// NetworkDelayUS and ProxyCostUS are Options.NetworkDelay and
	// Options.ProxyCost, in microseconds: the medians of the rounds'.
	NetworkDelayUS float64 `json:"network_delay_us"`
	ProxyCostUS    float64 `json:"proxy_cost_us"`
	// Disturbed is set when no round was free of disturbed probes, so the
	// medians are of disturbed rounds (calibrate refuses to write such a
	// file unless told to allow it).
	Disturbed bool               `json:"disturbed,omitempty"`
	Plan      ProbePlan          `json:"plan"`
	Rounds    []CalibrationRound `json:"rounds"`
}

// Machine is the machine a calibration measured.
type Machine struct {
	CPUModel string `json:"cpu_model"`
	CPUs     int    `json:"cpus"`
	Platform string `json:"platform"` // GOOS/GOARCH
}

func (m Machine) String() string { return fmt.Sprintf("%s ×%d", m.CPUModel, m.CPUs) }

// ProbePlan is how each probe ran: an open loop at RateRPS, evenly spaced,
// for WarmupS then DurationS measured, to one backend whose every service
// takes ServiceUS; a probe the host delayed beyond ToleratedMS (the
// apparatus's delay of a window, report.DelayedBeyond) is run again up to
// Attempts times.
type ProbePlan struct {
	RateRPS     float64 `json:"rate_rps"`
	DurationS   float64 `json:"duration_s"`
	WarmupS     float64 `json:"warmup_s"`
	ServiceUS   float64 `json:"service_us"`
	Rounds      int     `json:"rounds"`
	Attempts    int     `json:"attempts"`
	ToleratedMS float64 `json:"tolerated_delay_ms"`
}

// CalibrationRound is one round: a probe straight to the backend, one
// through the proxy, and the constants they give. The direct path is two
// hops, so NetworkDelayUS = Direct.OutsideUS / 2; the proxied one four hops
// and the proxy, so ProxyCostUS = Proxy.OutsideUS − 4 × NetworkDelayUS.
type CalibrationRound struct {
	NetworkDelayUS float64 `json:"network_delay_us"`
	ProxyCostUS    float64 `json:"proxy_cost_us"`
	Direct         Probe   `json:"direct"`
	Proxy          Probe   `json:"proxy"`
}

// Probe is one live probe's figures over its requests after the warm-up
// (means, in milliseconds), and the apparatus's account of the host.
type Probe struct {
	Requests int64 `json:"requests"`
	// LatencyMS less SendLagMS is ServiceLatencyMS (completion − actual
	// send); less the station's own sojourn (its Server-Timing: the
	// service it measured, and any wait for a worker) it is OutsideUS,
	// what the path outside the backend took.
	LatencyMS        float64 `json:"latency_mean_ms"`
	SendLagMS        float64 `json:"send_lag_mean_ms"`
	ServiceLatencyMS float64 `json:"service_latency_mean_ms"`
	StationMS        float64 `json:"station_sojourn_mean_ms"`
	OutsideUS        float64 `json:"outside_us"`
	// The apparatus: its delay at the 99th percentile, the hiccups' and
	// the host's CPU pressure (−1 unknown).
	ApparatusDelayP99MS float64 `json:"apparatus_delay_p99_ms"`
	HiccupP99MS         float64 `json:"hiccup_p99_ms"`
	CPUPressure         float64 `json:"cpu_pressure"`
	// Attempts is how many times the probe ran; Disturbed why its last
	// attempt's figures cannot be trusted ("" when they can): the host
	// delayed it, the generator saturated, or requests failed.
	Attempts  int    `json:"attempts"`
	Disturbed string `json:"disturbed,omitempty"`
}

// Options are the calibrated constants as the model takes them.
func (c *Calibration) Options() Options {
	return Options{NetworkDelay: fromMicros(c.NetworkDelayUS), ProxyCost: fromMicros(c.ProxyCostUS)}
}

// Model is what a simulated result records of the calibration in file.
func (c *Calibration) Model(file string) *report.SimulationModel {
	return &report.SimulationModel{
		NetworkDelayUS: c.NetworkDelayUS, ProxyCostUS: c.ProxyCostUS,
		Source: report.SourceCalibration, File: file, Calibrated: c.Calibrated,
		Machine: c.Machine.String(), Disturbed: c.Disturbed,
	}
}

// Micros is d in microseconds, as a calibration holds durations: to the
// nanosecond, so that fromMicros gives d back.
func Micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func fromMicros(us float64) time.Duration {
	return time.Duration(math.Round(us * float64(time.Microsecond)))
}

// DefaultCalibrationFile is where calibrate writes and simulate looks by
// default: ilities/calibration.json in the user's configuration folder
// ($XDG_CONFIG_HOME, else ~/.config, on Linux).
func DefaultCalibrationFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "ilities", "calibration.json"), nil
}

// Constants are the model's constants and what a result records of them:
// the calibration at file; with file "", the default file's when there is
// one, else the built-in defaults. A file that cannot be read as a
// calibration is an error naming it.
func Constants(file string) (Options, *report.SimulationModel, error) {
	if file == "" {
		def, err := DefaultCalibrationFile()
		if err != nil {
			return defaults()
		}
		if _, err := os.Stat(def); errors.Is(err, fs.ErrNotExist) {
			return defaults()
		}
		file = def
	}
	c, err := ReadCalibration(file)
	if err != nil {
		return Options{}, nil, err
	}
	return c.Options(), c.Model(file), nil
}

func defaults() (Options, *report.SimulationModel, error) {
	opts := DefaultOptions()
	return opts, &report.SimulationModel{NetworkDelayUS: Micros(opts.NetworkDelay), ProxyCostUS: Micros(opts.ProxyCost), Source: report.SourceDefault}, nil
}

// A constant is at most a second: anything longer is no measure of a hop
// or of a proxy's work.
const mostMicros = 1e6

// calibrationExpected is what a calibration file must hold, for errors.
const calibrationExpected = `expected the JSON that ilities calibrate writes: {"schema_version": 1, "network_delay_us": µs, "proxy_cost_us": µs, ...}, each from 0 to 1000000`

// ReadCalibration reads the calibration file at path. Its error names the
// file and what was expected of it: a JSON error at its line and column, a
// missing or unknown field, another schema version, a constant out of range.
func ReadCalibration(path string) (*Calibration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("calibration %s: %w", path, err)
	}
	c, err := decodeCalibration(data)
	if err != nil {
		return nil, fmt.Errorf("calibration %s: %w; %s", path, err, calibrationExpected)
	}
	return c, nil
}

func decodeCalibration(data []byte) (*Calibration, error) {
	var required struct {
		SchemaVersion  *int     `json:"schema_version"`
		NetworkDelayUS *float64 `json:"network_delay_us"`
		ProxyCostUS    *float64 `json:"proxy_cost_us"`
	}
	if err := json.Unmarshal(data, &required); err != nil {
		return nil, fmt.Errorf("malformed JSON%s: %w", report.JSONPosition(data, err), err)
	}
	switch {
	case required.SchemaVersion == nil:
		return nil, errors.New("no schema_version")
	case *required.SchemaVersion != CalibrationSchema:
		return nil, fmt.Errorf("schema_version %d; this version of ilities reads %d", *required.SchemaVersion, CalibrationSchema)
	}
	for _, f := range []struct {
		name string
		us   *float64
	}{{"network_delay_us", required.NetworkDelayUS}, {"proxy_cost_us", required.ProxyCostUS}} {
		if f.us == nil {
			return nil, fmt.Errorf("no %s", f.name)
		}
		if *f.us < 0 || *f.us > mostMicros {
			return nil, fmt.Errorf("%s %g out of range", f.name, *f.us)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	c := new(Calibration)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("malformed JSON%s: %w", report.JSONPosition(data, err), err)
	}
	return c, nil
}

// WriteCalibration writes c to path as indented JSON, creating its folder,
// atomically as every output file of the tool.
func WriteCalibration(path string, c *Calibration) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the calibration's folder: %w", err)
	}
	return report.WriteAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(c)
	})
}
