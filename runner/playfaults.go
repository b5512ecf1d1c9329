package runner

import (
	"time"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// PlayFaults plays a fault timeline against a running topology with its
// offsets counted from now, for a SUT served without a run (ilities serve).
// stop ends it: faults not yet fired never will be, and faults still on
// are lifted.
func PlayFaults(topo *sut.Topology, faults []scenario.Fault) (stop func()) {
	ft := newFaultTimeline(topo, faults)
	ft.begin(time.Now())
	return ft.finish
}
