package evloop

import (
	"bytes"
	"syscall"
	"testing"
)

func socketPairs(t *testing.T, n int) [][2]int {
	t.Helper()
	pairs := make([][2]int, n)
	for i := range pairs {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
		pairs[i] = [2]int{fds[0], fds[1]}
	}
	return pairs
}

func newTestRing(t *testing.T, entries uint32) *Ring {
	t.Helper()
	if !HasRing() {
		t.Skip("io_uring unavailable here")
	}
	r, err := NewRing(entries)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// A batch larger than the ring is done whole, in order, each operation
// with its own result: sends, then receives of what was sent, of nothing
// (EAGAIN, not a wait), of the end of a stream, and on a closed socket.
func TestRingRun(t *testing.T) {
	r := newTestRing(t, 4)
	pairs := socketPairs(t, 6)
	var ops []Op
	for i, p := range pairs {
		ops = append(ops, Op{Fd: p[0], Buf: bytes.Repeat([]byte{byte('a' + i)}, i+1), Send: true})
	}
	if err := r.Run(ops); err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		if op.N != i+1 || op.Errno != 0 {
			t.Fatalf("send %d: %d bytes, errno %v; want %d", i, op.N, op.Errno, i+1)
		}
	}
	syscall.Shutdown(pairs[5][0], syscall.SHUT_WR)
	ops = ops[:0]
	for _, p := range pairs {
		ops = append(ops, Op{Fd: p[1], Buf: make([]byte, 16)})
	}
	ops = append(ops, Op{Fd: pairs[0][1], Buf: make([]byte, 16)}, Op{Fd: pairs[5][1], Buf: make([]byte, 16)}, Op{Fd: 1 << 20, Buf: make([]byte, 1)})
	if err := r.Run(ops); err != nil {
		t.Fatal(err)
	}
	for i := range pairs {
		want := bytes.Repeat([]byte{byte('a' + i)}, i+1)
		if got := ops[i].Buf[:ops[i].N]; !bytes.Equal(got, want) || ops[i].Errno != 0 {
			t.Fatalf("receive %d: %q, errno %v; want %q", i, got, ops[i].Errno, want)
		}
	}
	tail := ops[len(pairs):]
	if tail[0].Errno != syscall.EAGAIN {
		t.Errorf("receive on an empty socket: %d bytes, errno %v; want EAGAIN", tail[0].N, tail[0].Errno)
	}
	if tail[1].N != 0 || tail[1].Errno != 0 {
		t.Errorf("receive at the end of the stream: %d bytes, errno %v; want 0, none", tail[1].N, tail[1].Errno)
	}
	if tail[2].Errno != syscall.EBADF {
		t.Errorf("receive on no descriptor: errno %v; want EBADF", tail[2].Errno)
	}
}

// A send to a full socket takes what fits and then reports EAGAIN rather
// than wait for room.
func TestRingSendFull(t *testing.T) {
	r := newTestRing(t, 8)
	p := socketPairs(t, 1)[0]
	big := make([]byte, 1<<20)
	ops := []Op{{Fd: p[0], Buf: big, Send: true}, {Fd: p[0], Buf: big, Send: true}}
	if err := r.Run(ops); err != nil {
		t.Fatal(err)
	}
	if ops[0].N <= 0 || ops[0].N >= len(big) || ops[1].Errno != syscall.EAGAIN {
		t.Fatalf("sends to a full socket: %d bytes then errno %v; want part, then EAGAIN", ops[0].N, ops[1].Errno)
	}
}
