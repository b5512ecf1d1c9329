package run

import (
	"bytes"
	"context"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/demoapp"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// The CI example end to end: 100 users from examples/ci/users.csv log in to
// the demo app, extract their tokens from its JSON answers and send them
// with their later calls. The app, not the tool, says whether every call
// carried its own user's token.
func TestCIExampleLogsInEveryUserAndUsesTheirTokens(t *testing.T) {
	users, err := demoapp.ReadUsers("../examples/ci/users.csv")
	if err != nil {
		t.Fatal(err)
	}
	app := demoapp.New(users)
	srv := httptest.NewServer(app)
	defer srv.Close()

	sc, err := scenario.Load("../examples/ci/login.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration = scenario.Duration(3 * time.Second)
	sc.Target.URL = srv.URL
	res, err := Execute(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}

	seen := app.Stats()
	if len(seen.Logins) != 100 || seen.FailedLogins != 0 {
		t.Errorf("%d users logged in, %d logins failed; want all 100 and none", len(seen.Logins), seen.FailedLogins)
	}
	if seen.Calls == 0 || seen.RightToken != seen.Calls || seen.WrongToken+seen.NoToken != 0 {
		t.Errorf("the app saw %d calls: %d with the right user's token, %d another's, %d none", seen.Calls, seen.RightToken, seen.WrongToken, seen.NoToken)
	}
	tot := res.Totals
	if tot.Failed != 0 || tot.Succeeded == 0 || tot.Scheduled != tot.Succeeded+tot.Failed+tot.Dropped+tot.CutAtEnd+tot.Exhausted {
		t.Errorf("totals %+v, errors %v", tot, res.Errors)
	}
	logins := 0
	for _, n := range seen.Logins {
		logins += n
	}
	if answered := int64(logins + seen.Calls); answered != tot.Succeeded+tot.Failed {
		t.Errorf("the app answered %d requests, the run counts %d sent", answered, tot.Succeeded+tot.Failed)
	}
	// Each step is a request of its own, by its name.
	login, cart, add := res.Request("login"), res.Request("cart"), res.Request("add to cart")
	if login == nil || cart == nil || add == nil || len(res.Requests) != 3 {
		t.Fatalf("requests %+v, want login, cart and add to cart", res.Requests)
	}
	if login.Totals.Succeeded != int64(logins) || login.StatusCodes[200] != int64(logins) {
		t.Errorf("login: %d succeeded, status codes %v; the app saw %d logins", login.Totals.Succeeded, login.StatusCodes, logins)
	}
	if calls := cart.Totals.Succeeded + add.Totals.Succeeded; calls != int64(seen.Calls) || add.StatusCodes[201] != add.Totals.Succeeded {
		t.Errorf("cart %d and add to cart %d (status codes %v) succeeded; the app saw %d calls", cart.Totals.Succeeded, add.Totals.Succeeded, add.StatusCodes, seen.Calls)
	}
	// Every format breaks the figures down by step: a row (or a JSON
	// object) for each name, with its count of requests.
	for _, f := range report.OutputFiles() {
		if f.Name == "latency.hlog" { // a histogram log: one series per run
			continue
		}
		var b bytes.Buffer
		if err := f.Render(&b, res); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		for _, r := range res.Requests {
			row := regexp.MustCompile(regexp.QuoteMeta(r.Name) + `\W[^\n]*?` + strconv.FormatInt(r.Totals.Scheduled, 10))
			if f.Name == "result.json" {
				row = regexp.MustCompile(`"name": "` + regexp.QuoteMeta(r.Name) + `",\s*"workload": "shoppers",\s*"totals": \{\s*"scheduled": ` + strconv.FormatInt(r.Totals.Scheduled, 10))
			}
			if !row.Match(b.Bytes()) {
				t.Errorf("%s has no row for %q with its %d requests", f.Name, r.Name, r.Totals.Scheduled)
			}
		}
	}
	t.Logf("%d logins, %d calls, verdict %s (%s)", logins, seen.Calls, res.Verdict, res.VerdictReason)
	if res.Verdict == report.VerdictFail {
		// The app runs in this process: a host that holds it back queues
		// its requests, and shows in the run's apparatus figures.
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
	}
	switch res.Verdict {
	case report.VerdictPass:
	case report.VerdictInconclusive:
		// The tool's own rule when the host delayed it too much to judge.
		t.Skipf("the host was too busy to judge: %s", res.VerdictReason)
	default:
		t.Errorf("verdict %s (%s), requirements %+v", res.Verdict, res.VerdictReason, res.Requirements)
	}
}
