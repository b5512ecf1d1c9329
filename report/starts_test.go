package report

import (
	"strings"
	"testing"
	"time"
)

// Merged windows add up the same absolute second of every part: a part
// whose clock started 2 s after the other's has its windows shifted by
// two, and parts further apart than the skew allowed make the merged
// result invalid, which it says.
func TestMergeLinesUpWindowsByAbsoluteTime(t *testing.T) {
	planned := time.Date(2025, 3, 14, 9, 27, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		second     time.Duration // the second part's start after the first's
		maxSkew    time.Duration
		samePlan   bool
		wantShift  int
		wantWithin bool
	}{
		{"together", 3 * time.Millisecond, DefaultMaxSkew, true, 0, true},
		{"2s apart", 2 * time.Second, DefaultMaxSkew, false, 2, false},
		{"2s apart, allowed", 2 * time.Second, 3 * time.Second, true, 2, true},
		{"0.7s apart", 700 * time.Millisecond, time.Second, true, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var parts []*Result
			for i, segment := range []string{"1/2", "2/2"} {
				p := fixtureResult()
				p.Segment, p.Requirements = segment, nil
				p.Started = planned.Add(time.Duration(i) * tc.second)
				p.Manifest.PlannedStart = planned
				if i == 1 && !tc.samePlan {
					p.Manifest.PlannedStart = planned.Add(time.Minute)
				}
				p.Workloads[0].WindowCounts = []WindowCount{{10, 10}, {20, 20}, {30, 30}}
				parts = append(parts, p)
			}
			m, err := MergeWith(parts, MergeOptions{MaxSkew: tc.maxSkew})
			if err != nil {
				t.Fatal(err)
			}
			s := m.Starts
			if s == nil || len(s.Parts) != 2 || s.Within != tc.wantWithin || s.Parts[1].OffsetS != tc.wantShift ||
				s.SkewMS != float64(tc.second)/float64(time.Millisecond) || s.MaxSkewMS != float64(tc.maxSkew)/float64(time.Millisecond) {
				t.Fatalf("starts %+v", s)
			}
			if tc.samePlan != s.PlannedStart.Equal(planned) {
				t.Errorf("planned start %v, want %v when the parts share it", s.PlannedStart, planned)
			}
			// Each part has 800 scheduled in each of its three windows.
			if len(m.Windows) != 3+tc.wantShift {
				t.Fatalf("%d merged windows, want %d", len(m.Windows), 3+tc.wantShift)
			}
			for i, w := range m.Windows {
				want := int64(0)
				for k, p := range parts {
					if j := i - k*tc.wantShift; j >= 0 && j < len(p.Windows) {
						want += p.Windows[j].Scheduled
					}
				}
				if w.T != i || w.Scheduled != want {
					t.Errorf("window %d: T %d, scheduled %d, want %d", i, w.T, w.Scheduled, want)
				}
			}
			counts := m.Workloads[0].WindowCounts
			if len(counts) != 3+tc.wantShift || counts[0][0] != 10*int64(2-min(tc.wantShift, 1)) {
				t.Errorf("workload counts %v", counts)
			}
			if parts[1].Windows[0].T != 0 || len(parts[1].Workloads[0].WindowCounts) != 3 {
				t.Errorf("the parts were changed: %+v", parts[1].Windows[0])
			}
			text := StartsText(s)
			if tc.wantWithin {
				if m.Verdict != VerdictPass || !strings.Contains(text, "2 segments started within") {
					t.Errorf("verdict %s (%s); %q", m.Verdict, m.VerdictReason, text)
				}
				return
			}
			if m.Verdict != VerdictInconclusive || !strings.Contains(m.VerdictReason, "started 2s apart, more than the 100ms allowed") ||
				!strings.HasPrefix(text, "SEGMENTS OUT OF STEP") {
				t.Errorf("verdict %s (%s); %q", m.Verdict, m.VerdictReason, text)
			}
		})
	}
}
