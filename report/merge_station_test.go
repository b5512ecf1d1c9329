package report

import "testing"

// statsPart is one part's stats with n requests of latency 10 ms and, when
// timed, the station's account of each (sojourn 8 ms, service 5 ms).
func statsPart(t *testing.T, n int64, timed bool) *Stats {
	t.Helper()
	lat, svc, sojourn, service := NewHistogram(), NewHistogram(), NewHistogram(), NewHistogram()
	for range n {
		RecordUS(lat, 10000)
		RecordUS(svc, 9000)
		RecordUS(sojourn, 8000)
		RecordUS(service, 5000)
	}
	s := &Stats{LatencyMS: PercentilesOf(lat)}
	var err error
	if s.Histograms.Latency, err = EncodeHistogram(lat); err != nil {
		t.Fatal(err)
	}
	if s.Histograms.ServiceLatency, err = EncodeHistogram(svc); err != nil {
		t.Fatal(err)
	}
	if timed {
		if s.Station, err = StationOf(sojourn, service, 2, &s.Histograms); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// The station's account is merged only when it covers every merged request.
func TestMergeStationAccount(t *testing.T) {
	cases := []struct {
		name      string
		parts     []*Stats
		wantCount int64 // 0: no account in the merge
	}{
		{"every part timed", []*Stats{statsPart(t, 30, true), statsPart(t, 20, true)}, 50},
		{"a part without one", []*Stats{statsPart(t, 30, true), statsPart(t, 20, false)}, 0},
		{"the untimed part first", []*Stats{statsPart(t, 20, false), statsPart(t, 30, true)}, 0},
		{"an empty part without one", []*Stats{statsPart(t, 30, true), statsPart(t, 0, false)}, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := mergeStats(c.parts, 1)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.wantCount == 0 && out.Station != nil:
				t.Errorf("merged an account of %d of %d requests", out.Station.SojournMS.Count, out.LatencyMS.Count)
			case c.wantCount > 0 && (out.Station == nil || out.Station.SojournMS.Count != c.wantCount || out.Histograms.StationService == ""):
				t.Errorf("station %+v, want an account of %d requests", out.Station, c.wantCount)
			}
		})
	}
}
