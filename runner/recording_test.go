package runner

import (
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
)

// A recording fed from outside the engine judges answers by each
// request's expect and accounts for every fate as Run does.
func TestRecordingJudgesAndAccountsAsRunDoes(t *testing.T) {
	sc, err := scenario.Parse("rec.yaml", []byte(`
duration: 2s
target: {url: "http://127.0.0.1:1"}
workload:
  - name: w
    rate: 10/s
    requests:
      - {path: /a, weight: 3}
      - {path: /gone, expect: {status: [404]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := NewRecording(sc, Options{URL: "http://127.0.0.1:1", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, s := range []Sample{
		{Request: 0, Intended: ms(10), Sent: ms(10), Done: ms(15), Status: 200, Node: "a1", QueueUS: 1000, ServiceUS: 4000},
		{Request: 1, Intended: ms(20), Sent: ms(20), Done: ms(21), Status: 404, Node: "a1"}, // expected
		{Request: 1, Intended: ms(30), Sent: ms(30), Done: ms(31), Status: 200, Node: "a2"}, // not expected: other
		{Request: 0, Intended: ms(40), Sent: ms(40), Done: ms(41), Status: 503, Node: "a2"},
		{Request: 0, Intended: ms(1100), Sent: ms(1100), Done: ms(1300), Fate: FateFailed, Class: ClassTimeout},
		{Request: 0, Intended: ms(1200), Fate: FateDropped},
		{Request: 0, Intended: ms(1900), Fate: FateCut},
		// Answers failed past their status: a body cut short, a lost session.
		{Request: 0, Intended: ms(50), Sent: ms(50), Done: ms(52), Status: 200, Class: ClassTruncated, Node: "a1"},
		{Request: 0, Intended: ms(60), Sent: ms(60), Done: ms(61), Status: 409, Session: "lost", Node: "a2"},
	} {
		rec.Add(s)
	}
	rec.Advance(time.Hour)
	res, err := rec.Result(time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	tot := res.Totals
	if tot.Scheduled != 9 || tot.Succeeded != 2 || tot.Failed != 5 || tot.Dropped != 1 || tot.CutAtEnd != 1 {
		t.Errorf("totals %+v, want 9 scheduled = 2 succeeded + 5 failed + 1 dropped + 1 cut", tot)
	}
	if res.Errors[ClassOther] != 1 || res.Errors[Class5xx] != 1 || res.Errors[ClassTimeout] != 1 ||
		res.Errors[ClassTruncated] != 1 || res.Errors[ClassSessionLost] != 1 {
		t.Errorf("errors %v, want one each of other, 5xx, timeout, truncated and session_lost", res.Errors)
	}
	if len(res.Requests) != 2 || res.Requests[1].StatusCodes[404] != 1 || res.Requests[1].Totals.Succeeded != 1 {
		t.Errorf("requests %+v: want /gone's 404 counted a success", res.Requests)
	}
	if len(res.Nodes) != 2 || res.Nodes[0].Name != "a1" || res.Nodes[0].Requests != 3 {
		t.Errorf("nodes %+v, want a1 with 3 answers, a2 with 3", res.Nodes)
	}
	// Of each node's answers, those that failed the request, apart: a1's
	// body cut short; a2's unexpected 200, its 503 and its lost session.
	if w := res.Windows[0]; w.Nodes["a1"] != 3 || w.NodeFailed["a1"] != 1 || w.Nodes["a2"] != 3 || w.NodeFailed["a2"] != 3 {
		t.Errorf("window 0: answers %v, failed %v; want a1 3 (1 failed), a2 3 (3 failed)", w.Nodes, w.NodeFailed)
	}
	if st := res.Station; st == nil || st.ServiceMS.Max < 3.9 {
		t.Errorf("station %+v, want the timed answer's 4ms service", st)
	}
	if len(res.Windows) != 2 || res.Windows[1].Dropped != 1 || res.Windows[0].Succeeded != 2 {
		t.Errorf("windows %+v, want the arrivals in the windows of their intended times", res.Windows)
	}
	// Every arrival was sent on time: no send lag at all, rather than the
	// histograms' floor; one sent late has its lag.
	if lag := res.Generator.SendLagMS; lag.Count != 0 || res.Apparatus.DelayMS.P99 != 0 {
		t.Errorf("send lag %+v, apparatus delay %+v: want none", lag, res.Apparatus.DelayMS)
	}
	late, err := NewRecording(sc, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	late.Add(Sample{Intended: ms(10), Sent: ms(13), Done: ms(20), Status: 200})
	res, err = late.Result(time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if lag := res.Generator.SendLagMS; lag.Count != 1 || lag.Min != 3 || res.Totals.Late != 1 {
		t.Errorf("send lag %+v, late %d: want the one arrival 3ms late", lag, res.Totals.Late)
	}
}
