package runner

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ilities/ilities/report"
)

// failure is the exchange that ended with err, classified, the error kept
// for the error samples.
func failure(ctxErr, err error) exchange {
	return exchange{outcome: classifyError(ctxErr, err), err: err}
}

// failureSample is one failure kept as a sample of its class.
type failureSample struct {
	at     time.Duration
	err    error
	status uint16
}

// classSamples are the failures kept of one class: the first few and the
// last (report.ErrorSamplesFirst).
type classSamples struct {
	first []failureSample
	last  failureSample
	n     int64
}

// errorSamples keeps a few failures of each class; a class gets its
// entry at its first failure.
type errorSamples [numOutcomes]*classSamples

func (e *errorSamples) add(s *sample) {
	c := e[s.outcome]
	if c == nil {
		c = &classSamples{}
		e[s.outcome] = c
	}
	// Samples come a harvest at a time, each recorder's in turn, not in
	// time order: first keeps the earliest, sorted, last the latest.
	f := failureSample{at: s.done, err: s.err, status: s.status}
	switch {
	case len(c.first) < report.ErrorSamplesFirst:
		c.first = append(c.first, f)
	case f.at < c.first[len(c.first)-1].at:
		c.first[len(c.first)-1] = f
	}
	slices.SortStableFunc(c.first, func(a, b failureSample) int { return cmp.Compare(a.at, b.at) })
	if c.n == 0 || f.at >= c.last.at {
		c.last = f
	}
	c.n++
}

// report lists each class's samples in time order, their messages
// rendered and cut (report.SampleMessage); nil when nothing failed.
func (e *errorSamples) report() map[string][]report.ErrorSample {
	var out map[string][]report.ErrorSample
	for o, c := range e {
		if c == nil {
			continue
		}
		if out == nil {
			out = map[string][]report.ErrorSample{}
		}
		kept := c.first
		if c.n > int64(len(c.first)) {
			kept = append(kept[:len(kept):len(kept)], c.last)
		}
		list := make([]report.ErrorSample, len(kept))
		for i, f := range kept {
			list[i] = report.ErrorSample{AtS: f.at.Seconds(), Message: report.SampleMessage(f.message(outcome(o)))}
		}
		out[outcome(o).class()] = list
	}
	return out
}

// message is what the failure said: its error, or else what its outcome
// and status mean.
func (f failureSample) message(o outcome) string {
	status := strings.TrimSpace(fmt.Sprintf("status %d %s", f.status, http.StatusText(int(f.status))))
	switch {
	case f.err != nil:
		return f.err.Error()
	case o == outTimeout && f.status != 0:
		return status + ", then no complete response within the timeout"
	case o == outTimeout:
		return "no response within the timeout"
	case o == outAborted:
		return "still in flight when the run was stopped"
	case o == outSessionLost:
		return status + " from a backend that did not know the session"
	case o == outUnexpectedBody:
		return status + ", but the response failed expect's body, JSON or header checks"
	case f.status != 0:
		return status + ", not an expected status"
	}
	return o.class()
}

// settleStatus adds the latest run of one status code to the counts.
func (a *scopeAcc) settleStatus() {
	if a.statusRun > 0 {
		a.statuses[int(a.status)] += a.statusRun
		a.statusRun = 0
	}
}

func (a *scopeAcc) statusCodes() map[int]int64 {
	a.settleStatus()
	if len(a.statuses) == 0 {
		return nil
	}
	return a.statuses
}

// windowCounts are the scope's [offered, succeeded] per second.
func (a *scopeAcc) windowCounts() []report.WindowCount {
	var out []report.WindowCount
	for _, c := range a.windows {
		out = append(out, report.WindowCount{c.scheduled, c.succeeded})
	}
	return out
}

// requestResults are the figures of each request of each workload, in the
// scenario's order.
func (c *collector) requestResults(workloads []*workloadRun, figuresS, windowOK float64) ([]report.RequestResult, error) {
	var out []report.RequestResult
	for i, w := range workloads {
		for j, r := range w.requests {
			acc := &c.requests[c.reqBase[i]+j]
			st, err := acc.stats(figuresS, windowOK)
			if err != nil {
				return nil, err
			}
			out = append(out, report.RequestResult{Name: r.name, Workload: w.name, Stats: st, WindowCounts: acc.windowCounts()})
		}
		for _, r := range w.requests {
			if r.ws == nil {
				continue
			}
			acc := &c.requests[c.reqBase[i]+int(r.ws.scope)]
			st, err := acc.stats(figuresS, windowOK)
			if err != nil {
				return nil, err
			}
			out = append(out, report.RequestResult{Name: r.ws.label, Workload: w.name, Stats: st, WindowCounts: acc.windowCounts()})
		}
	}
	return out, nil
}

// noResponse is ErrNoResponse with what the failures said: the first
// sample of the most frequent class, so that a TLS failure names its
// certificate problem rather than just its class.
func noResponse(res *report.Result) error {
	classes := make([]string, 0, len(res.ErrorSamples))
	for class := range res.ErrorSamples {
		classes = append(classes, class)
	}
	sort.Slice(classes, func(i, j int) bool {
		a, b := classes[i], classes[j]
		if res.Errors[a] != res.Errors[b] {
			return res.Errors[a] > res.Errors[b]
		}
		return a < b
	})
	for _, class := range classes {
		if samples := res.ErrorSamples[class]; len(samples) > 0 && class != ClassAborted {
			return fmt.Errorf("%w: %d failed as %s, the first at %.3fs: %s",
				ErrNoResponse, res.Errors[class], class, samples[0].AtS, samples[0].Message)
		}
	}
	return ErrNoResponse
}
