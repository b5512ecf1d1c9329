package scenario

import (
	"reflect"
	"testing"
	"time"
)

func TestRampAndHoldProfile(t *testing.T) {
	w := Workload{Stages: []Stage{
		{RampTo: 800, Over: Duration(10 * time.Second)},
		{Hold: 800, For: Duration(20 * time.Second)},
		{RampTo: 200, Over: Duration(10 * time.Second)},
	}}
	if got := w.TotalLength(); got != 40*time.Second {
		t.Fatalf("TotalLength = %s, want 40s", got)
	}
	rates := []struct {
		at   time.Duration
		want float64
	}{
		{0, 0},
		{2500 * time.Millisecond, 200},
		{5 * time.Second, 400},
		{10 * time.Second, 800},
		{25 * time.Second, 800},
		{35 * time.Second, 500},
		{40 * time.Second, 200},
		{time.Hour, 200}, // past the stages the last rate holds
	}
	for _, r := range rates {
		if got := w.RateAt(r.at); !near(got, r.want, 1e-9) {
			t.Errorf("RateAt(%s) = %v, want %v", r.at, got, r.want)
		}
	}

	s := time.Second
	longer := w.Profile(50 * s)
	wantLonger := []Segment{
		{Start: 0, End: 10 * s, From: 0, To: 800},
		{Start: 10 * s, End: 30 * s, From: 800, To: 800},
		{Start: 30 * s, End: 40 * s, From: 800, To: 200},
		{Start: 40 * s, End: 50 * s, From: 200, To: 200},
	}
	if !reflect.DeepEqual(longer, wantLonger) {
		t.Errorf("Profile(50s) = %+v\nwant %+v", longer, wantLonger)
	}

	cut := w.Profile(35 * s)
	wantCut := []Segment{
		{Start: 0, End: 10 * s, From: 0, To: 800},
		{Start: 10 * s, End: 30 * s, From: 800, To: 800},
		{Start: 30 * s, End: 35 * s, From: 800, To: 500},
	}
	if !reflect.DeepEqual(cut, wantCut) {
		t.Errorf("Profile(35s) = %+v\nwant %+v", cut, wantCut)
	}
	// Area under the cut profile: 4000 + 16000 + 3250.
	if got := w.Arrivals(35 * s); !near(got, 23250, 1e-6) {
		t.Errorf("Arrivals(35s) = %v, want 23250", got)
	}
}

func TestHoldFirstAndConstantRateProfiles(t *testing.T) {
	s := time.Second
	holdFirst := Workload{Stages: []Stage{
		{Hold: 100, For: Duration(5 * s)},
		{RampTo: 300, Over: Duration(5 * s)},
	}}
	if got := holdFirst.RateAt(7500 * time.Millisecond); !near(got, 200, 1e-9) {
		t.Errorf("a ramp after a hold starts from the hold's rate: RateAt(7.5s) = %v, want 200", got)
	}
	constant := Workload{Rate: 250}
	want := []Segment{{Start: 0, End: 8 * s, From: 250, To: 250}}
	if got := constant.Profile(8 * s); !reflect.DeepEqual(got, want) {
		t.Errorf("constant Profile(8s) = %+v", got)
	}
	if constant.TotalLength() != 0 || constant.RateAt(3*s) != 250 || constant.Arrivals(8*s) != 2000 {
		t.Errorf("constant: length %s, RateAt %v, Arrivals %v", constant.TotalLength(), constant.RateAt(3*s), constant.Arrivals(8*s))
	}
	if got := constant.Profile(0); got != nil {
		t.Errorf("Profile(0) = %+v, want nil", got)
	}
}
