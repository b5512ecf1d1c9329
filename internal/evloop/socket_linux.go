package evloop

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"
)

// Sockaddr is ap as the socket calls take it, with the address family to
// open the socket in. An IPv4 address in IPv6 form is IPv4; a zone names
// an interface.
func Sockaddr(ap netip.AddrPort) (syscall.Sockaddr, int) {
	ip := ap.Addr()
	if ip.Is4() || ip.Is4In6() {
		return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ip.Unmap().As4()}, syscall.AF_INET
	}
	sa := &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, syscall.AF_INET6
}

// Socket opens a non-blocking TCP socket of family with Nagle's algorithm
// off: a loop writes whole requests and responses, which must not wait for
// the acknowledgement of the previous one.
func Socket(family int) (int, error) {
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	return fd, nil
}

// Connect starts connecting the non-blocking socket fd to sa. pending: the
// handshake goes on; the socket turns writable (EPOLLOUT) when it ends, and
// ConnectError then tells how.
func Connect(fd int, sa syscall.Sockaddr) (pending bool, err error) {
	switch err := syscall.Connect(fd, sa); err {
	case nil:
		return false, nil
	case syscall.EINPROGRESS:
		return true, nil
	default:
		return false, err
	}
}

// ConnectError is the outcome of a pending Connect, once fd is writable:
// nil when it is connected.
func ConnectError(fd int) error {
	soErr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err == nil && soErr != 0 {
		err = syscall.Errno(soErr)
	}
	return err
}

// Accept takes a connection from the non-blocking listener ln, as a
// non-blocking socket with Nagle's algorithm off. EAGAIN: none is waiting.
func Accept(ln int) (int, syscall.Sockaddr, error) {
	fd, sa, err := syscall.Accept4(ln, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	if err != nil {
		return -1, nil, err
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	return fd, sa, nil
}

// Read reads what fd has, up to len(b), as a raw system call, tried again
// when a signal interrupts it. n == 0 with no error is the end of the
// stream; EAGAIN, that nothing is there.
func Read(fd int, b []byte) (int, syscall.Errno) {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if errno != syscall.EINTR {
			return int(n), errno
		}
	}
}

// Write writes b to fd, as raw system calls, until it is all written or
// the socket is full, and returns how much went; the error is any but a
// full socket.
func Write(fd int, b []byte) (int, syscall.Errno) {
	done := 0
	for done < len(b) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[done])), uintptr(len(b)-done))
		switch errno {
		case 0:
			done += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return done, 0
		default:
			return done, errno
		}
	}
	return done, 0
}

// StampReceived makes the kernel time each segment fd receives
// (SO_TIMESTAMPNS), for Receiver.
func StampReceived(fd int) error {
	return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
}

var stampProbe struct {
	once sync.Once
	ok   bool
}

// HasReceiveStamps reports whether the kernel times what TCP sockets
// receive (StampReceived).
func HasReceiveStamps() bool {
	stampProbe.once.Do(func() {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return
		}
		defer syscall.Close(fd)
		stampProbe.ok = StampReceived(fd) == nil
	})
	return stampProbe.ok
}

// Receiver reads sockets with the kernel's receive time of the bytes read
// (StampReceived): a loop that reads a response at its next wake-up still
// knows when it arrived. One per loop: its control buffer serves every
// read, so a read allocates nothing (as syscall.ParseSocketControlMessage
// would).
type Receiver struct {
	oob []byte
}

// NewReceiver makes a Receiver.
func NewReceiver() *Receiver {
	return &Receiver{oob: make([]byte, syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{})))*2)}
}

// Read is Read with the receive time of the bytes read, in Unix
// nanoseconds: 0 when none came with them.
func (r *Receiver) Read(fd int, b []byte) (n int, stamp int64, errno syscall.Errno) {
	iov := syscall.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msg := syscall.Msghdr{Iov: &iov, Iovlen: 1, Control: &r.oob[0]}
	msg.SetControllen(len(r.oob))
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0, 0, errno
		}
		return int(n), r.stamp(int(msg.Controllen)), 0
	}
}

// stamp finds SCM_TIMESTAMPNS among the first n bytes of control messages.
func (r *Receiver) stamp(n int) int64 {
	hdrLen := syscall.CmsgLen(0)
	for off := 0; off+hdrLen <= n; {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&r.oob[off]))
		size := int(h.Len)
		if size < hdrLen || off+size > n {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SO_TIMESTAMPNS && size-hdrLen >= int(unsafe.Sizeof(syscall.Timespec{})) {
			return (*syscall.Timespec)(unsafe.Pointer(&r.oob[off+hdrLen])).Nano()
		}
		off += syscall.CmsgSpace(size - hdrLen)
	}
	return 0
}
