package runner

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseStartAt(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 27, 500_000_000, time.UTC)
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "2026-12-07T12:01:00Z", want: time.Date(2026, 12, 7, 12, 1, 0, 0, time.UTC)},
		{in: "2026-12-07T13:01:00.25+01:00", want: time.Date(2026, 12, 7, 12, 1, 0, 250_000_000, time.UTC)},
		// Within the tolerance: a process that read the clock a little late.
		{in: "2026-12-07T12:00:27.48Z", want: time.Date(2026, 12, 7, 12, 0, 27, 480_000_000, time.UTC)},
		{in: "2026-12-07T12:00:27Z", wantErr: "passed 500ms ago"},
		{in: "+30s", want: now.Add(30 * time.Second)},
		{in: "+0s", want: now},
		{in: "+-1s", wantErr: "+DURATION"},
		// 12:00:27.5 + 2s = 12:00:29.5: the next multiple of 30s is 12:00:30.
		{in: "next:30s", want: time.Date(2026, 12, 7, 12, 0, 30, 0, time.UTC)},
		// + 5s = 12:00:32.5: too close to 12:00:30, so 12:01:00.
		{in: "next:30s,5s", want: time.Date(2026, 12, 7, 12, 1, 0, 0, time.UTC)},
		{in: "next:1m", want: time.Date(2026, 12, 7, 12, 1, 0, 0, time.UTC)},
		{in: "next:1h,0s", want: time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)},
		{in: "next:500ms", wantErr: "PERIOD of 1s or more"},
		{in: "next:30s,-1s", wantErr: "LEAD"},
		{in: "next:", wantErr: "PERIOD"},
		{in: "tomorrow", wantErr: "RFC 3339"},
		{in: "", wantErr: "empty"},
	} {
		got, err := ParseStartAt(tc.in, now)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseStartAt(%q) = %v, %v; want an error naming %q", tc.in, got, err, tc.wantErr)
			}
		case err != nil || !got.Equal(tc.want):
			t.Errorf("ParseStartAt(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// Processes that compute next:PERIOD seconds apart, within one period,
// agree on the instant.
func TestNextMultipleAgreesAcrossProcesses(t *testing.T) {
	base := time.Date(2026, 12, 7, 12, 0, 1, 0, time.UTC)
	var first time.Time
	for k := range 4 {
		now := base.Add(time.Duration(k) * 2 * time.Second) // started 2s apart
		at, err := ParseStartAt("next:30s", now)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			first = at
		} else if !at.Equal(first) {
			t.Errorf("process %d: %v, process 0: %v", k, at, first)
		}
		if at.Sub(now) < DefaultStartLead {
			t.Errorf("process %d starts %v after now, less than the lead", k, at.Sub(now))
		}
	}
}

func TestWaitForStart(t *testing.T) {
	ctx := context.Background()
	if err := waitForStart(ctx, time.Time{}); err != nil {
		t.Errorf("no start time: %v", err)
	}
	at := time.Now().Add(150 * time.Millisecond)
	if err := waitForStart(ctx, at); err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); now.Before(at) {
		t.Errorf("woke %v early", at.Sub(now))
	}
	if err := waitForStart(ctx, time.Now().Add(-time.Second)); err == nil || !strings.Contains(err.Error(), "never starts late") {
		t.Errorf("a start time 1s past: %v, want an error", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	begun := time.Now()
	err := waitForStart(cancelled, time.Now().Add(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "interrupted") || time.Since(begun) > 10*time.Second {
		t.Errorf("interrupted wait: %v after %v", err, time.Since(begun))
	}
}

// Run starts its clock at StartAt, not before, and tells Started so; a
// run stopped while it waits, or whose instant passed while it was set
// up, sends nothing and returns no result.
func TestRunStartsAtItsInstant(t *testing.T) {
	var conc concurrency
	srv := okServer(t, 0, &conc)
	for _, closed := range []bool{false, true} {
		w := openWorkload("w", 50)
		if closed {
			w = closedWorkload("users", 2)
		}
		sc := newScenario(300*time.Millisecond, w)
		at := time.Now().Add(400 * time.Millisecond).Round(0)
		var t0 time.Time
		res := run(t, sc, Options{URL: srv.URL, StartAt: at, Started: func(s time.Time) { t0 = s }})
		if !t0.Equal(res.Started) || res.Started.Before(at) || res.Started.Sub(at) > time.Second {
			t.Errorf("closed %v: started %v, hook %v; planned %v", closed, res.Started, t0, at)
		}
		if res.Totals.Scheduled == 0 {
			t.Errorf("closed %v: nothing scheduled after the start", closed)
		}
	}

	var hits atomic.Int64
	counted := okServerFunc(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	var hooked bool
	hook := func(time.Time) { hooked = true }
	sc := newScenario(time.Second, openWorkload("w", 50), closedWorkload("users", 2))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res, err := Run(ctx, sc, Options{URL: counted.URL, StartAt: time.Now().Add(time.Minute), Started: hook})
	if res != nil || err == nil || !strings.Contains(err.Error(), "interrupted while waiting") {
		t.Errorf("interrupted: %v, %v", res, err)
	}
	res, err = Run(context.Background(), sc, Options{URL: counted.URL, StartAt: time.Now().Add(-time.Second), Started: hook})
	if res != nil || err == nil || !strings.Contains(err.Error(), "never starts late") {
		t.Errorf("an instant past: %v, %v", res, err)
	}
	if hooked || hits.Load() != 0 {
		t.Errorf("a run that never started: hook called %v, %d requests sent", hooked, hits.Load())
	}
}
