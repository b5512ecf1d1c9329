package evloop

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

func TestSockaddr(t *testing.T) {
	cases := []struct {
		addr   string
		family int
		want   string
		zone   string // the interface the zone names
	}{
		{"127.0.0.1:8080", syscall.AF_INET, "127.0.0.1:8080", ""},
		{"[::ffff:127.0.0.1]:8080", syscall.AF_INET, "127.0.0.1:8080", ""}, // IPv4 in IPv6 form: an IPv4 socket
		{"[::1]:443", syscall.AF_INET6, "[::1]:443", ""},
		{"[fe80::1%lo]:80", syscall.AF_INET6, "[fe80::1]:80", "lo"},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			sa, family := Sockaddr(netip.MustParseAddrPort(tc.addr))
			var got string
			zone := 0
			switch a := sa.(type) {
			case *syscall.SockaddrInet4:
				got = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
			case *syscall.SockaddrInet6:
				got, zone = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String(), int(a.ZoneId)
			}
			if family != tc.family || got != tc.want {
				t.Fatalf("family %d address %s, want %d %s", family, got, tc.family, tc.want)
			}
			wantZone := 0
			if tc.zone != "" {
				ifi, err := net.InterfaceByName(tc.zone)
				if err != nil {
					t.Skip(err)
				}
				wantZone = ifi.Index
			}
			if zone != wantZone {
				t.Fatalf("zone %d, want %d", zone, wantZone)
			}
		})
	}
}

// Reads and writes stop at an empty or full socket rather than block, and
// a read tells the end of the stream from nothing there yet.
func TestReadWrite(t *testing.T) {
	srv := newPeerServer(t)
	fd := srv.dial(t)
	defer syscall.Close(fd)
	peer := srv.peer(0)
	buf := make([]byte, 64)

	if n, errno := Read(fd, buf); errno != syscall.EAGAIN {
		t.Fatalf("read of an empty socket: %d, %v; want EAGAIN", n, errno)
	}
	peer.Write([]byte("hello"))
	awaitReady(t, fd, syscall.EPOLLIN)
	if n, errno := Read(fd, buf); errno != 0 || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v; want hello", buf[:n], errno)
	}

	peer.(*net.TCPConn).CloseWrite()
	awaitReady(t, fd, syscall.EPOLLIN)
	if n, errno := Read(fd, buf); n != 0 || errno != 0 {
		t.Fatalf("read after the peer's end of stream: %d, %v; want 0, none", n, errno)
	}

	// The peer reads nothing: writes fill the socket, and stop there.
	big := make([]byte, 64<<20)
	n, errno := Write(fd, big)
	if errno != 0 || n == 0 || n == len(big) {
		t.Fatalf("wrote %d of %d bytes to a peer reading nothing (%v): want a part, then a stop", n, len(big), errno)
	}
	if more, errno := Write(fd, big); errno != 0 || more != 0 {
		t.Fatalf("a full socket took %d more bytes (%v)", more, errno)
	}
}

// awaitReady waits until fd is ready for mask.
func awaitReady(t *testing.T, fd int, mask uint32) {
	t.Helper()
	p, err := NewPoller(1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(fd, mask, Tag{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, Tag{})
}

// A connection refused comes out of ConnectError once the socket turns
// writable; an accepted one is nil there.
func TestConnectError(t *testing.T) {
	srv := newPeerServer(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing, _ := Sockaddr(netip.MustParseAddrPort(closed.Addr().String()))
	closed.Close()
	cases := []struct {
		name string
		sa   syscall.Sockaddr
		want error
	}{
		{"listening", srv.addr, nil},
		{"refused", refusing, syscall.ECONNREFUSED},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := Socket(syscall.AF_INET)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			pending, err := Connect(fd, tc.sa)
			if err == nil && pending {
				awaitReady(t, fd, syscall.EPOLLOUT)
				err = ConnectError(fd)
			}
			if err != tc.want {
				t.Fatalf("connect: %v, want %v", err, tc.want)
			}
		})
	}
}

// Accept gives a non-blocking socket with Nagle's algorithm off, and
// EAGAIN when nobody is waiting.
func TestAccept(t *testing.T) {
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(ln)
	if err := syscall.Bind(ln, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(ln, 8); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Accept(ln); err != syscall.EAGAIN {
		t.Fatalf("accept with nobody waiting: %v, want EAGAIN", err)
	}
	sa, _ := syscall.Getsockname(ln)
	port := sa.(*syscall.SockaddrInet4).Port
	c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var fd int
	for deadline := time.Now().Add(10 * time.Second); ; {
		if fd, _, err = Accept(ln); err != syscall.EAGAIN || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if nodelay, err := syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); err != nil || nodelay == 0 {
		t.Errorf("TCP_NODELAY %d (%v), want on", nodelay, err)
	}
	var buf [1]byte
	if _, errno := Read(fd, buf[:]); errno != syscall.EAGAIN {
		t.Errorf("read of the accepted socket with nothing sent: %v, want EAGAIN (non-blocking)", errno)
	}
}

// The receive time of bytes is the kernel's, between their sending and
// their reading, whenever they are read.
func TestReceiverStamps(t *testing.T) {
	if !HasReceiveStamps() {
		t.Skip("no receive timestamps on this kernel")
	}
	srv := newPeerServer(t)
	fd := srv.dial(t)
	defer syscall.Close(fd)
	if err := StampReceived(fd); err != nil {
		t.Fatal(err)
	}
	r := NewReceiver()
	peer := srv.peer(0)
	// The kernel turns its receive clock on a moment after it is first
	// asked (deferred work): bytes that came before carry no stamp.
	for i := 0; ; i++ {
		peer.Write([]byte("p"))
		if _, stamp := readStamped(t, r, fd); stamp != 0 {
			break
		}
		if i == 100 {
			t.Fatal("no stamp on bytes received in the second after asking")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sent := time.Now()
	peer.Write([]byte("stamped"))
	time.Sleep(50 * time.Millisecond) // read late: the stamp keeps the arrival
	got, stamp := readStamped(t, r, fd)
	read := time.Now()
	if got != "stamped" {
		t.Fatalf("read %q", got)
	}
	at := time.Unix(0, stamp)
	if at.Before(sent.Add(-time.Millisecond)) || at.After(read) {
		t.Fatalf("stamped %v, sent %v, read %v", at, sent, read)
	}
	if read.Sub(at) < 40*time.Millisecond {
		t.Errorf("stamped %v before the read, which came 50ms after the send: the time of the read, not of the arrival", read.Sub(at))
	}
}

// readStamped reads what fd has, waiting for something, with its stamp.
func readStamped(t *testing.T, r *Receiver, fd int) (string, int64) {
	t.Helper()
	buf := make([]byte, 64)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		n, stamp, errno := r.Read(fd, buf)
		if errno == syscall.EAGAIN {
			continue
		}
		if errno != 0 {
			t.Fatal(errno)
		}
		return string(buf[:n]), stamp
	}
	t.Fatal("nothing to read in 10s")
	return "", 0
}
