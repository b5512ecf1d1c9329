// Package porthold keeps the port of a server that is down (a crashed
// backend or proxy replica, to restart on the same address) from being
// taken by another server meanwhile. Closing a listener frees its port: a
// server elsewhere on the host that listens on port 0 may be given it, and
// the clients of the crashed one, the proxy first, would then be answered
// by a stranger and count its answers as the crashed node's.
//
// A Hold binds a socket to the address without listening on it, as a
// process that holds the port without serving does: a connection to it is
// refused, as to a crashed server, and the kernel gives the port to no
// other socket until Release.
package porthold

// Holder holds one address; the zero value holds nothing.
type Holder struct{ fd int }

// Release gives the port back; the restarting server listens next. It is
// safe on a nil or empty Holder.
func (h *Holder) Release() {
	if h != nil && h.fd > 0 {
		closeFD(h.fd)
		h.fd = 0
	}
}
