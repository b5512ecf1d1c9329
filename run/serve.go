package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// Serving is a built-in SUT served on its own (ilities serve), with its
// control API when asked for.
type Serving struct {
	Topology *sut.Topology
	control  *sut.ControlServer // nil without a control API
}

// Serve starts sc's built-in SUT and, when control is not empty, its control
// API on that loopback address (sut.ServeControl) with a hiccup sampler of
// this process's own delays, begun by the API's /begin. ctx bounds the
// start only.
func Serve(ctx context.Context, sc *scenario.Scenario, control string) (*Serving, error) {
	topo, err := sut.Start(ctx, sc)
	if err != nil {
		return nil, err
	}
	s := &Serving{Topology: topo}
	if control != "" {
		if s.control, err = sut.ServeControl(topo, control, &hiccupMeter{}); err != nil {
			return nil, errors.Join(err, topo.Close())
		}
	}
	return s, nil
}

// Banner is the first line ilities serve prints: "serving" and the proxy
// replicas' URLs, then, with a control API, "control" and its URL.
func (s *Serving) Banner() string {
	if s.control != nil {
		return sut.ChildBanner(s.Topology.URLs(), s.control.URL())
	}
	return "serving " + strings.Join(s.Topology.URLs(), " ")
}

// Close stops the control API, then the SUT.
func (s *Serving) Close() error {
	var err error
	if s.control != nil {
		err = s.control.Close()
	}
	return errors.Join(err, s.Topology.Close())
}

// PlayFaults plays a fault timeline against a running topology with its
// offsets counted from now, for a SUT served without a run (ilities serve).
// stop ends it: faults not yet fired never will be, and faults still on
// are lifted.
func PlayFaults(topo *sut.Topology, faults []scenario.Fault) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ft := newFaultTimeline(topo, faults)
	ft.begin(ctx, time.Now())
	return func() {
		cancel()
		ft.finish()
	}
}

// ServeChild is the child's side of a built-in SUT run apart
// (SUTProcess SUTChild, sut.StartChild): it reads the SUT from stdin,
// serves it with its control API on control (a loopback address), prints
// the banner on stdout, and stops when stdin closes (the parent is gone or
// done) or ctx ends.
func ServeChild(ctx context.Context, control string, stdin io.Reader, stdout io.Writer) error {
	spec, err := sut.ReadChildSpec(stdin)
	if err != nil {
		return err
	}
	s, err := Serve(ctx, spec.Scenario(), control)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, s.Banner()); err != nil {
		return errors.Join(err, s.Close())
	}
	parentGone := make(chan struct{})
	go func() {
		defer crash.Guard()
		_, _ = io.Copy(io.Discard, stdin)
		close(parentGone)
	}()
	select {
	case <-ctx.Done():
	case <-parentGone:
	}
	return s.Close()
}

// hiccupMeter is the apparatus meter's hiccup sampler serving a SUT apart
// (sut.HiccupMeter): the same measure as the generator's, on the run's clock.
type hiccupMeter struct {
	mu    sync.Mutex
	meter *runner.Meter
	ended *sut.Hiccups
	err   error
}

func (h *hiccupMeter) Begin(start time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.meter != nil || h.ended != nil {
		return // one run per process
	}
	h.meter = runner.StartMeter(start) // goes on after the run, until End
}

func (h *hiccupMeter) End(windows int) (sut.Hiccups, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended != nil || h.err != nil {
		return *h.ended, h.err
	}
	h.ended = &sut.Hiccups{}
	if h.meter == nil {
		return *h.ended, nil // never begun: nothing measured
	}
	defer h.meter.Close()
	a, err := h.meter.Result(windows)
	if err != nil {
		h.err = err
		return *h.ended, err
	}
	h.ended.Histogram = a.HiccupHistogram
	for _, w := range a.Windows {
		h.ended.Windows = append(h.ended.Windows, sut.HiccupWindow{T: w.T, P99MS: w.HiccupP99, MaxMS: w.HiccupMax})
	}
	return *h.ended, nil
}
