package scenario

import (
	"os"
	"strings"
	"testing"
)

// TestLimitsDocumented: docs/scenario.md lists every fixed limit as
// StaticLimits states it.
func TestLimitsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/scenario.md")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, l := range StaticLimits {
		row := "| " + l.Name + " | " + l.String() + " | " + l.Why + " |"
		want.WriteString(row + "\n")
		if !strings.Contains(string(doc), row+"\n") {
			t.Errorf("docs/scenario.md lacks the row\n%s", row)
		}
	}
	if t.Failed() {
		t.Logf("the table:\n%s", want.String())
	}
}

// TestMachineConcurrency: the concurrency bound follows the open-file
// limit and the memory, whichever is smaller, under the ceiling.
func TestMachineConcurrency(t *testing.T) {
	for _, tc := range []struct {
		m    Machine
		fds  int
		want int64
	}{
		{Machine{OpenFiles: 20000, Memory: 24 << 30}, fdsBuiltin, (20000 - fdReserve) / 4},
		{Machine{OpenFiles: 20000, Memory: 24 << 30}, fdsTarget, 20000 - fdReserve},
		{Machine{OpenFiles: 1 << 20, Memory: 1 << 30}, fdsTarget, (1 << 30) / 2 / connBytes},
		{Machine{OpenFiles: 1 << 40, Memory: 1 << 50}, fdsTarget, MaxConcurrencyCeiling},
		{Machine{OpenFiles: 100, Memory: 1 << 30}, fdsBuiltin, 1},
	} {
		if got := tc.m.MaxConcurrency(tc.fds); got != tc.want {
			t.Errorf("%+v with %d files per connection: %d, want %d", tc.m, tc.fds, got, tc.want)
		}
		if why := tc.m.concurrencyWhy(tc.fds); why == "" {
			t.Errorf("%+v: no reason", tc.m)
		}
	}
}
