package sut

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
)

// Lift undoes an injected fault. Lifting twice does nothing.
type Lift func() error

// faultKind applies one kind of fault to a running topology and returns
// how to lift it (nil for a permanent change). Each kind lives in its own
// file (fault_<kind>.go) and registers itself here.
type faultKind func(t *Topology, f scenario.Fault) (Lift, error)

var faultKinds = map[string]faultKind{}

func registerFault(kind string, apply faultKind) { faultKinds[kind] = apply }

// FaultKinds lists the kinds Inject knows, sorted.
func FaultKinds() []string {
	out := make([]string, 0, len(faultKinds))
	for k := range faultKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Inject applies the fault f now and returns how to lift it. f is a
// validated scenario fault; its At and For are the caller's business (the
// fault timeline calls Inject at At and the Lift at At+For).
func (t *Topology) Inject(f scenario.Fault) (Lift, error) {
	if t.ext != nil && f.NeedsBuiltinProxy() {
		return nil, fmt.Errorf("sut: %s is not supported with a real proxy (kind %s): its configuration is fixed at start", f.Kind, t.ext.Kind())
	}
	apply, ok := faultKinds[f.Kind]
	if !ok {
		return nil, fmt.Errorf("sut: unknown fault kind %q (known: %s)", f.Kind, strings.Join(FaultKinds(), ", "))
	}
	lift, err := apply(t, f)
	if err != nil {
		return nil, fmt.Errorf("sut: %s %s: %w", f.Kind, f.Node, err)
	}
	if lift == nil {
		lift = func() error { return nil }
	}
	return once(lift), nil
}

func once(l Lift) Lift {
	done := false
	var err error
	return func() error {
		if !done {
			done, err = true, l()
		}
		return err
	}
}

// target returns the backend a node fault acts on.
func (t *Topology) target(f scenario.Fault) (*backend.Backend, error) {
	n := t.find(f.Node)
	if n == nil {
		return nil, fmt.Errorf("no backend called %q", f.Node)
	}
	return n.backend, nil
}

// switchFault is a fault that sets a backend switch and clears it on lift.
func switchFault(set func(*backend.Faults, scenario.Fault), clear func(*backend.Faults)) faultKind {
	return func(t *Topology, f scenario.Fault) (Lift, error) {
		b, err := t.target(f)
		if err != nil {
			return nil, err
		}
		b.UpdateFaults(func(bf *backend.Faults) { set(bf, f) })
		return func() error {
			b.UpdateFaults(clear)
			return nil
		}, nil
	}
}
