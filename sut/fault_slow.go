package sut

import (
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
)

// slow: each service started while on lasts longer by a draw from the
// fault's latency distribution; the worker stays busy meanwhile.
func init() {
	registerFault("slow", switchFault(
		func(b *backend.Faults, f scenario.Fault) { b.Slow = f.Latency },
		func(b *backend.Faults) { b.Slow = nil }))
}
