package runner

import (
	"strings"
	"testing"
	"time"
)

// The progress line writes its p99 as the report does: 1.05s, not 1053.69ms.
func TestProgressLineFormatsLatencyAsTheReport(t *testing.T) {
	for _, tc := range []struct {
		micros int64
		want   string
	}{
		{1053690, "p99(1s) 1.05s "},
		{41230, "p99(1s) 41.2ms "},
		{412, "p99(1s) 0.412ms "},
	} {
		c := newCollector(nil, time.Second, 0)
		if err := c.recent.RecordValue(tc.micros); err != nil {
			t.Fatal(err)
		}
		p := &progress{total: time.Minute}
		if got := p.line(c, 10*time.Second); !strings.Contains(got, tc.want) {
			t.Errorf("%dµs: line %q, want it to contain %q", tc.micros, got, tc.want)
		}
	}
}
