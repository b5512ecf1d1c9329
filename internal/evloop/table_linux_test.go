package evloop

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// testConn is a loop's connection as far as these tests go.
type testConn struct {
	fd   int
	name string
	buf  []byte // kept from one use of the slot to the next
}

// An event queued for a connection that has been closed since, its slot
// and descriptor number taken by another, must not reach the newcomer:
// what a loop indexing its connections by the event's slot or descriptor
// would do. Each case opens a connection, makes it readable and takes its
// event, closes it, then opens tc.reuses more in its slot and descriptor
// (each taking an event too, all but the last closed), and only then
// delivers every event taken.
func TestTableDropsStaleEvents(t *testing.T) {
	cases := []struct {
		name   string
		reuses int
	}{
		{"closed, slot and descriptor free", 0},
		{"closed, slot and descriptor reused", 1},
		{"closed, reused, closed, reused again", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newPeerServer(t)
			p, err := NewPoller(8)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var table Table[testConn]
			var events []syscall.EpollEvent // taken, not yet delivered
			var names []string              // of the connection each event is for
			var first Tag
			firstFd := -1
			for i := 0; i <= tc.reuses; i++ {
				c, tag := table.Open()
				c.fd, c.name = srv.dial(t), fmt.Sprintf("connection %d", i)
				if err := p.Add(c.fd, syscall.EPOLLIN, tag); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first, firstFd = tag, c.fd
				} else if c.fd != firstFd || tag.Slot != first.Slot {
					t.Fatalf("%s has descriptor %d slot %d, the first had %d slot %d: the kernel and the table give the lowest free",
						c.name, c.fd, tag.Slot, firstFd, first.Slot)
				}
				srv.peer(i).Write([]byte("x"))
				ev := waitFor(t, p, tag)
				events, names = append(events, ev), append(names, c.name)
				if i < tc.reuses || tc.reuses == 0 {
					syscall.Close(c.fd) // the kernel drops its registration
					table.Release(tag)
				}
			}
			for i, ev := range events {
				got := table.Event(&ev)
				live := i == tc.reuses && tc.reuses > 0
				switch {
				case live && (got == nil || got.name != names[i]):
					t.Errorf("the open %s's event went to %v", names[i], got)
				case !live && got != nil:
					t.Errorf("the event of closed %s went to %s (descriptor %d, slot %d)", names[i], got.name, got.fd, TagOf(&ev).Slot)
				}
			}
			if tc.reuses > 0 {
				syscall.Close(firstFd) // the last connection's, open
			}
		})
	}
}

// Open reuses a released slot, with the connection as its last user left
// it; a stale tag names nothing; All yields the open connections alone.
func TestTableSlots(t *testing.T) {
	var table Table[testConn]
	a, ta := table.Open()
	a.buf = make([]byte, 16)
	b, tb := table.Open()
	if a == b || ta.Slot == tb.Slot {
		t.Fatalf("two open connections share slot %d", ta.Slot)
	}
	table.Release(ta)
	table.Release(ta) // again: ignored
	c, tc := table.Open()
	if c != a || tc.Slot != ta.Slot || tc.Gen == ta.Gen || len(c.buf) != 16 {
		t.Fatalf("after a release, Open gave slot %d gen %d (released: slot %d gen %d), the same connection %v",
			tc.Slot, tc.Gen, ta.Slot, ta.Gen, c == a)
	}
	for _, check := range []struct {
		tag  Tag
		want *testConn
	}{
		{ta, nil},
		{tb, b},
		{tc, a},
		{Tag{Slot: -1}, nil},
		{Tag{Slot: 7}, nil},
	} {
		if got := table.Get(check.tag); got != check.want {
			t.Errorf("Get(%+v) = %p, want %p", check.tag, got, check.want)
		}
	}
	table.Release(tb)
	var open []*testConn
	for c := range table.All() {
		open = append(open, c)
	}
	if len(open) != 1 || open[0] != a {
		t.Errorf("All yields %v, want the one open connection", open)
	}
}

// peerServer accepts connections on 127.0.0.1 and keeps their server
// ends, in order, for the test to write to.
type peerServer struct {
	ln    net.Listener
	addr  syscall.Sockaddr
	peers []net.Conn
}

func newPeerServer(t *testing.T) *peerServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &peerServer{ln: ln}
	s.addr, _ = Sockaddr(netip.MustParseAddrPort(ln.Addr().String()))
	t.Cleanup(func() {
		ln.Close()
		for _, c := range s.peers {
			c.Close()
		}
	})
	return s
}

// dial connects a socket of the package's own to the server and returns
// it once the server has accepted it.
func (s *peerServer) dial(t *testing.T) int {
	t.Helper()
	fd, err := Socket(syscall.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Connect(fd, s.addr); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	c, err := s.ln.Accept()
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	s.peers = append(s.peers, c)
	return fd
}

func (s *peerServer) peer(i int) net.Conn { return s.peers[i] }

// waitFor waits for p's event carrying tag and returns it.
func waitFor(t *testing.T, p *Poller, tag Tag) syscall.EpollEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range p.Wait(100 * time.Millisecond) {
			if TagOf(&ev) == tag {
				return ev
			}
		}
	}
	t.Fatalf("no event for %+v in 10s", tag)
	return syscall.EpollEvent{}
}
