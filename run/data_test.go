package run

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
)

// Arrivals an exhausted data source leaves unsent count neither against
// the target nor as the generator's drops: the requirements on what was
// sent pass.
func TestExhaustedDataIsNotHeldAgainstTheTarget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ids.csv"), []byte("id\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := mustParse(t, filepath.Join(dir, "s.yaml"), `
duration: 1s
target: {url: `+srv.URL+`}
data: [{name: ids, file: ids.csv, when_exhausted: stop}]
workload: [{rate: 50/s, uses: [ids], requests: [{path: "/item/{{ids.id}}"}]}]
requirements:
  - availability >= 99%
  - error_rate == 0%
`)
	res, err := Execute(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tot := res.Totals
	if tot.Scheduled != 50 || tot.Succeeded != 10 || tot.Exhausted != 40 || tot.Failed+tot.Dropped+tot.CutAtEnd != 0 {
		t.Fatalf("totals %+v", tot)
	}
	if res.Verdict != report.VerdictPass && res.Verdict != report.VerdictInconclusive {
		t.Errorf("verdict %s (%s), requirements %+v", res.Verdict, res.VerdictReason, res.Requirements)
	}
	for _, r := range res.Requirements {
		if r.Status == report.VerdictFail {
			t.Errorf("requirement %s failed: %+v", r.Text, r)
		}
	}
	var text strings.Builder
	if err := report.WriteText(&text, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "50 scheduled = 10 succeeded + 0 failed + 0 dropped + 40 not sent, data exhausted") {
		t.Errorf("the terminal report does not account for the unsent arrivals:\n%s", text.String())
	}
}
