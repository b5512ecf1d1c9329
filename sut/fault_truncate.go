package sut

import (
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
)

// truncate: the fault's percent of responses declares its full
// Content-Length, sends half of the body, then closes the connection.
func init() {
	registerFault("truncate", switchFault(
		func(b *backend.Faults, f scenario.Fault) { b.TruncateRate = f.Percent.Fraction() },
		func(b *backend.Faults) { b.TruncateRate = 0 }))
}
