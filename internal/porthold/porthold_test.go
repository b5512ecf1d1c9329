//go:build unix

package porthold

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// A held port refuses connections, is given to no listener on port 0 and
// to none that asks for it by number without SO_REUSEADDR, and is free to
// listen on again once released.
func TestHoldRefusesAndKeepsThePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h, err := Hold(addr)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("a held port accepted a connection")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v, want connection refused", err)
	}
	// Many listeners on port 0: none gets the held port.
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range 2000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			break // the host's ports: enough were tried
		}
		lns = append(lns, l)
		if l.Addr().String() == addr {
			t.Fatalf("a listener on port 0 was given the held %s", addr)
		}
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	ap := ln.Addr().(*net.TCPAddr)
	sa := &syscall.SockaddrInet4{Port: ap.Port}
	copy(sa.Addr[:], ap.IP.To4())
	if err := syscall.Bind(fd, sa); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("a bind by number: %v, want address in use", err)
	}
	syscall.Close(fd)
	h.Release()
	h.Release() // twice is harmless
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again after Release: %v", err)
	}
	again.Close()
}

func TestHoldRejectsANonNumericAddress(t *testing.T) {
	if _, err := Hold("localhost:80"); err == nil {
		t.Error("a host name was accepted")
	}
}
