package sut

import (
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
)

// hang: the backend accepts connections and reads requests but answers
// none until lifted; clients (or the proxy's timeout) time out.
func init() {
	registerFault("hang", switchFault(
		func(b *backend.Faults, _ scenario.Fault) { b.Hang = true },
		func(b *backend.Faults) { b.Hang = false }))
}
