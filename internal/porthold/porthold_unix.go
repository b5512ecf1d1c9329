//go:build unix

package porthold

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// Hold binds a TCP socket to addr (host:port, a numeric IP) without
// listening. When connections left in TIME_WAIT still name the port, the
// bind needs SO_REUSEADDR, as the listener had: the port is then held
// against every bind to port 0, though not against a server that asks for
// it by number with SO_REUSEADDR too.
func Hold(addr string) (*Holder, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("porthold: %q: %w", addr, err)
	}
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	if ap.Addr().Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	for _, reuse := range []bool{false, true} {
		fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("porthold: %w", err)
		}
		if reuse {
			_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		}
		err = syscall.Bind(fd, sa)
		if err == nil {
			return &Holder{fd: fd}, nil
		}
		syscall.Close(fd)
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("porthold: binding %s: %w", addr, err)
		}
	}
	return nil, fmt.Errorf("porthold: binding %s: %w", addr, syscall.EADDRINUSE)
}

func closeFD(fd int) { syscall.Close(fd) }
