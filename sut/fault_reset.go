package sut

import (
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
)

// reset: the fault's percent of responses is cut by a TCP RST after the
// headers and half of the body. Through the built-in proxy, which has
// already passed the headers on, the client's connection is closed short
// of Content-Length.
func init() {
	registerFault("reset", switchFault(
		func(b *backend.Faults, f scenario.Fault) { b.ResetRate = f.Percent.Fraction() },
		func(b *backend.Faults) { b.ResetRate = 0 }))
}
