package sut

import "github.com/ilities/ilities/scenario"

// crash: the backend's listener closes (new connections are refused), its
// open connections are reset, requests in service and queued are lost, and
// so are its sessions. Lifted, it restarts on the same address (after its
// start-up delay, if any). Through the built-in proxy, clients see 502 for
// requests the proxy still sends to it.
func init() {
	registerFault("crash", func(t *Topology, f scenario.Fault) (Lift, error) {
		b, err := t.target(f)
		if err != nil {
			return nil, err
		}
		b.Crash()
		return b.Restart, nil
	})
}
