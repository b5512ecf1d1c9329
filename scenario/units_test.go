package scenario

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "2m", want: 2 * time.Minute},
		{in: "1h", want: time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250us", want: 250 * time.Microsecond},
		{in: " 3s ", want: 3 * time.Second},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "-1s", wantErr: "must not be negative"},
		{in: "-5", wantErr: "must not be negative"},
		{in: "5", wantErr: `a number needs a unit`},
		{in: "fast", wantErr: `expected a duration such as "250ms"`},
		{in: "", wantErr: `expected a duration`},
		{in: "10 parsecs", wantErr: `got "10 parsecs"`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDuration(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.D() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got.D(), err, tt.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "800/s", want: 800},
		{in: "48000/min", want: 800},
		{in: "60/m", want: 1},
		{in: "2/ms", want: 2000},
		{in: "36/h", want: 0.01},
		{in: "12.5/s", want: 12.5},
		{in: "800 / s", want: 800},
		{in: "250", want: 250},
		{in: "0.5", want: 0.5},
		{in: "0/s", want: 0},
		{in: "fast", wantErr: `expected a rate such as "800/s" or "48000/min", got "fast"`},
		{in: "800/d", wantErr: `unknown unit "/d"`},
		{in: "-5/s", wantErr: "must not be negative"},
		{in: "/s", wantErr: "expected a rate"},
		{in: "NaN/s", wantErr: "expected a rate"},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRate(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !near(got.PerSecond(), tt.want, 1e-12) {
			t.Errorf("ParseRate(%q) = %v, %v; want %v/s", tt.in, got.PerSecond(), err, tt.want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "99.9%", want: 0.999},
		{in: "100%", want: 1},
		{in: "0%", want: 0},
		{in: "1 %", want: 0.01},
		{in: "0.999", want: 0.999},
		{in: "1.0", want: 1},
		{in: "0.01", want: 0.01},
		{in: "1e-2", want: 0.01},
		{in: "0", want: 0},
		{in: "1", wantErr: `a bare 1 is ambiguous: write "1%" for a percentage`},
		{in: "3", wantErr: `write "3%" for a percentage`},
		{in: "1.5", wantErr: `write "1.5%" for a percentage`},
		{in: "150%", wantErr: "between 0% and 100%"},
		{in: "-1%", wantErr: "between 0% and 100%"},
		{in: "5", wantErr: `write "5%" for a percentage`},
		{in: "high", wantErr: `expected a percentage such as "99.9%"`},
	}
	for _, tt := range tests {
		got, err := ParsePercent(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePercent(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !near(got.Fraction(), tt.want, 1e-12) {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", tt.in, got.Fraction(), err, tt.want)
		}
	}
}

func TestUnitStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Duration(250 * time.Millisecond).String(), "250ms"},
		{Duration(1500 * time.Millisecond).String(), "1.5s"},
		{Duration(2 * time.Minute).String(), "2m"},
		{Duration(time.Hour).String(), "1h"},
		{Duration(90 * time.Minute).String(), "1h30m"},
		{Duration(0).String(), "0s"},
		{Rate(800).String(), "800/s"},
		{Rate(12.5).String(), "12.5/s"},
		{Rate(1e6).String(), "1000000/s"},
		{Percent(0.999).String(), "99.9%"},
		{Percent(1).String(), "100%"},
		{Percent(0.01).String(), "1%"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// units is a carrier for the unit types in encoding tests.
type units struct {
	D Duration `yaml:"d" json:"d"`
	R Rate     `yaml:"r" json:"r"`
	P Percent  `yaml:"p" json:"p"`
}

func TestUnitsYAMLRoundTrip(t *testing.T) {
	var u units
	if err := yaml.Unmarshal([]byte("d: 1.5s\nr: 48000/min\np: 99.9%\n"), &u); err != nil {
		t.Fatal(err)
	}
	want := units{D: Duration(1500 * time.Millisecond), R: 800, P: 0.999}
	if u.D != want.D || !near(float64(u.R), 800, 1e-9) || !near(float64(u.P), 0.999, 1e-12) {
		t.Fatalf("decoded %+v, want %+v", u, want)
	}
	out, err := yaml.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "d: 1.5s\nr: 800/s\np: 99.9%\n" {
		t.Errorf("marshalled %q", got)
	}
	var back units
	if err := yaml.Unmarshal(out, &back); err != nil || back.D != u.D || !near(float64(back.R), 800, 1e-9) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestUnitsYAMLErrorsCarryPosition(t *testing.T) {
	var u units
	err := yaml.Unmarshal([]byte("d: 1s\nr: fast\n"), &u)
	if err == nil || !strings.Contains(err.Error(), `2:4: expected a rate such as "800/s" or "48000/min", got "fast"`) {
		t.Errorf("error = %v", err)
	}
	err = yaml.Unmarshal([]byte("d: {a: 1}\n"), &u)
	if err == nil || !strings.Contains(err.Error(), `1:4: expected a duration such as "250ms", "1.5s" or "2m", got a mapping`) {
		t.Errorf("error = %v", err)
	}
}

func TestUnitsJSON(t *testing.T) {
	u := units{D: Duration(250 * time.Millisecond), R: 800, P: 0.999}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"d":"250ms","r":"800/s","p":"99.9%"}` {
		t.Errorf("json = %s", b)
	}
	var back units
	if err := json.Unmarshal([]byte(`{"d":"250ms","r":42,"p":0.5}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.D != u.D || back.R != 42 || back.P != 0.5 {
		t.Errorf("decoded %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"d":"-1s"}`), &back); err == nil {
		t.Error("negative duration in JSON accepted")
	}
}

func TestUnitsAsFlags(t *testing.T) {
	var r Rate
	if err := r.Set("2/ms"); err != nil || r != 2000 || r.Type() != "rate" {
		t.Errorf("Set(2/ms) = %v, %v", r, err)
	}
	var d Duration
	if err := d.Set("soon"); err == nil {
		t.Error("Set(soon) accepted")
	}
}

func near(got, want, tol float64) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= tol
}
