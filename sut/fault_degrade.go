package sut

import (
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
)

// degrade: the backend serves at most the fault's workers requests at once
// (its queue is kept, so it grows under the same load).
func init() {
	registerFault("degrade", switchFault(
		func(b *backend.Faults, f scenario.Fault) { b.Workers = f.Workers },
		func(b *backend.Faults) { b.Workers = 0 }))
}
