package sut

import (
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
)

// errors: the fault's percent of requests is answered at once with its
// status (500 or 503), without service.
func init() {
	registerFault("errors", switchFault(
		func(b *backend.Faults, f scenario.Fault) {
			b.ErrorRate, b.ErrorStatus = f.Percent.Fraction(), f.Status
		},
		func(b *backend.Faults) { b.ErrorRate = 0 }))
}
