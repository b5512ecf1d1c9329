package backend

import (
	"crypto/sha256"
	"runtime"
	"sync/atomic"
)

// burn computes until done reports true or stop is closed; it returns false
// when stopped. Each round hashes a few kilobytes (tens of microseconds),
// so the end is noticed promptly while the CPU stays busy, then yields:
// without it, computing workers would hold every processor for a whole
// preemption slice (10 ms) and arrivals would reach the station late, in
// bunches, which would hide the very queueing the station models.
func burn(done func() bool, stop <-chan struct{}) bool {
	var block [4096]byte
	sum := sha256.Sum256(block[:])
	for !done() {
		select {
		case <-stop:
			return false
		default:
		}
		copy(block[:], sum[:])
		sum = sha256.Sum256(block[:])
		runtime.Gosched()
	}
	sink.Store(uint32(sum[0]))
	return true
}

// sink keeps the compiler from dropping the computation; atomic, as
// every computing worker stores to it.
var sink atomic.Uint32
