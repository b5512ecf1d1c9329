//go:build !linux

package proxy

import "net"

// The event loops are Linux's; elsewhere every connection has a goroutine.

type loop struct{}

func (*loop) wake()     {}
func (*loop) closeFds() {}

func loopSupported() bool { return false }

func (p *Proxy) startLoops(net.Listener) bool { return false }
