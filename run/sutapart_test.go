package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/sut"
)

// serveChildEnv makes the test binary the SUT's child process (ServeChild)
// instead of running tests: the runner's tests start themselves as the
// child, as ilities run --sut-process child starts ilities serve.
const serveChildEnv = "ILITIES_TEST_SERVE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(serveChildEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := ServeChild(ctx, "127.0.0.1:0", os.Stdin, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childOptions run the built-in SUT in a child process: this test binary.
func childOptions(t *testing.T) Options {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{SUTProcess: SUTChild, SUTExecutable: exe, sutChildEnv: append(os.Environ(), serveChildEnv+"=1")}
}

// apartScenario is three backends under 200/s for 2 s with active health
// checks; app-2 crashes and app-1 answers errors from 0.5 s to 1.5 s.
const apartScenario = `
name: apart
seed: 5
duration: 2s
sut:
  proxy:
    strategy: round-robin
    health: {interval: 100ms, timeout: 100ms, fall: 2, rise: 2}
  pools:
    - name: app
      backends:
        - {name: app-1, workers: 4, service_time: {dist: constant, value: 2ms}, mtbf: 720h}
        - {name: app-2, workers: 4, service_time: {dist: constant, value: 2ms}, mtbf: 720h}
        - {name: app-3, workers: 4, service_time: {dist: constant, value: 2ms}, mtbf: 720h}
workload:
  - name: w
    rate: 200/s
    timeout: 500ms
faults:
  - {at: 500ms, for: 1s, kind: crash, node: app-2}
  - {at: 500ms, for: 1s, kind: errors, node: app-1, percent: 20%}
requirements:
  - availability >= 50%
`

// The built-in SUT gives a run the same figures in a child process as in
// the generator's: faults fired and detected, nodes, per-second utilisation
// and proxy samples, the projection; apart, its own hiccups too. The child
// is gone when Execute returns.
func TestExecuteRunsTheBuiltinSUTInOrApart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  func(*testing.T) Options
		apart bool
	}{
		{"in-process", func(*testing.T) Options { return Options{SUTProcess: SUTInProcess} }, false},
		{"child", childOptions, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts(t)
			pid := 0
			opts.sutStarted = func(s builtinSUT) {
				if r, ok := s.(*sut.Remote); ok {
					pid = r.ChildPid()
				}
			}
			host := hiccup.Start()
			res, err := Execute(context.Background(), mustParse(t, "apart.yaml", apartScenario), opts)
			fig := host.Stop()
			if err != nil && fig.Max >= 250*time.Millisecond {
				// Half the requests' 500 ms timeout at once: a host this
				// busy can keep every answer from arriving in time.
				t.Skipf("%v, on a host that delayed this process by up to %v (%v)", err, fig.Max, fig)
			}
			if err != nil {
				t.Fatal(err)
			}
			tot := res.Totals
			if tot.Scheduled != 400 || tot.Scheduled != tot.Succeeded+tot.Failed+tot.Dropped+tot.CutAtEnd {
				t.Errorf("accounting: %+v", tot)
			}
			if tot.Failed == 0 {
				t.Errorf("no request failed under a crash and errors: %+v", tot)
			}
			if len(res.Faults) != 2 {
				t.Fatalf("faults %+v, want both", res.Faults)
			}
			for _, f := range res.Faults {
				if f.Error != "" || f.AtS < 0.5 || f.EndS < 1.5 {
					t.Errorf("fault %+v: want fired at 0.5 s and lifted at 1.5 s", f)
				}
				if f.Kind == "crash" && f.DetectionTimeS < 0 {
					// Two failed checks, 100 ms apart with a 100 ms timeout,
					// fit the crash's 1 s unless the host stretched them.
					if why := starvedDetection(fig, res.Apparatus); why != "" {
						t.Skipf("crash not detected within its 1 s: %s", why)
					}
					t.Errorf("crash not detected: %+v", f)
				}
			}
			if len(res.Nodes) != 3 {
				t.Errorf("nodes %+v", res.Nodes)
			}
			for _, w := range res.Windows {
				if len(w.Utilisation) != 3 || len(w.Proxy) != 3 {
					t.Errorf("window %d: utilisation %v, proxy %v", w.T, w.Utilisation, w.Proxy)
				}
			}
			if res.Projection == nil {
				t.Error("no availability projection")
			}
			a := res.Apparatus
			switch {
			case tc.apart && (a.SUTHiccupMS == nil || a.SUTHiccupMS.Count == 0 || a.SUTHiccupHistogram == "" || a.SUTWakeups != 4):
				t.Errorf("apart: SUT hiccups %+v, wake-ups %d", a.SUTHiccupMS, a.SUTWakeups)
			case !tc.apart && (a.SUTHiccupMS != nil || a.SUTWakeups == 0):
				t.Errorf("in-process: SUT hiccups %+v, wake-ups %d", a.SUTHiccupMS, a.SUTWakeups)
			}
			if tc.apart {
				if pid == 0 {
					t.Fatal("no child process")
				}
				if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("child %d still there after Execute (kill 0: %v)", pid, err)
				}
			}
		})
	}
}

// starvedDetection says why a health check's detection of a 1 s crash
// (two failed checks, 100 ms apart, each up to 100 ms) may not fit in it on
// this host: this process's delays (fig) stretched the 300 ms past the
// crash's length, or the SUT's own process, apart, stalled for a quarter
// of it at once. "" when neither.
func starvedDetection(fig hiccup.Figures, a *report.Apparatus) string {
	const need, within = 300 * time.Millisecond, time.Second
	if d := fig.Allow(need); d >= within {
		return fmt.Sprintf("this process's delays stretch the checks' %v to %v (%v)", need, d, fig)
	}
	if a != nil && a.SUTHiccupMS != nil && a.SUTHiccupMS.Max >= 250 {
		return fmt.Sprintf("the SUT's process stalled up to %.0f ms (its hiccups: p99 %.1f ms)", a.SUTHiccupMS.Max, a.SUTHiccupMS.P99)
	}
	return ""
}

// A child that dies during the run makes Execute return soon after the run
// with the result so far and an error naming the lost process.
func TestExecuteReportsASUTChildThatDied(t *testing.T) {
	opts := childOptions(t)
	pid := 0
	opts.sutStarted = func(s builtinSUT) { pid = s.(*sut.Remote).ChildPid() }
	opts.Started = func(time.Time) {
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}()
	}
	begun := time.Now()
	res, err := Execute(context.Background(), mustParse(t, "apart.yaml", apartScenario), opts)
	if took := time.Since(begun); took > 15*time.Second {
		t.Errorf("Execute took %v after the child died", took)
	}
	if err == nil || !strings.Contains(err.Error(), "child process") {
		t.Fatalf("error %v, want one naming the lost child process", err)
	}
	if res == nil || res.Totals.Scheduled != 400 {
		t.Fatalf("want the run's result with the error, got %+v", res)
	}
	if res.Errors[runner.ClassRefused] == 0 {
		t.Errorf("errors %v: want refusals once the SUT is gone", res.Errors)
	}
	if res.Verdict == report.VerdictPass {
		t.Logf("verdict %s: %s", res.Verdict, res.VerdictReason)
	}
	t.Logf("error: %v", err)
}
