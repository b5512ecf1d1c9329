package runner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/scenario"
)

// rawTarget serves each connection with handle on a real listener on
// 127.0.0.1; Close closes the listener and every connection.
type rawTarget struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func newRawTarget(t *testing.T, handle func(c net.Conn, br *bufio.Reader)) *rawTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rt := &rawTarget{ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(rt.Close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rt.mu.Lock()
			if rt.closed {
				rt.mu.Unlock()
				c.Close()
				return
			}
			rt.conns[c] = true
			rt.mu.Unlock()
			go func() {
				defer func() {
					c.Close()
					rt.mu.Lock()
					delete(rt.conns, c)
					rt.mu.Unlock()
				}()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	return rt
}

func (rt *rawTarget) URL() string { return "http://" + rt.ln.Addr().String() }

// Close stops the target as a crash would: the listener goes (new
// connections are refused) and open connections are reset.
func (rt *rawTarget) Close() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return
	}
	rt.closed = true
	rt.ln.Close()
	for c := range rt.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

// readHead consumes one request head (requests carry no body here).
func readHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestHostileTargets runs the generator against targets that misbehave and
// checks, on both client paths, that every run ends in bounded time with
// each request counted once in the right class.
func TestHostileTargets(t *testing.T) {
	const timeout = 300 * time.Millisecond
	cases := []struct {
		name   string
		target func(t *testing.T) string
		// want: the failure classes allowed, and whether some must succeed.
		classes     []string
		someSucceed bool
		noReply     bool
	}{
		{name: "never answers", target: func(t *testing.T) string {
			return newRawTarget(t, func(c net.Conn, br *bufio.Reader) { _, _ = io.Copy(io.Discard, br) }).URL()
		}, classes: []string{ClassTimeout}, noReply: true},
		{name: "accepts nothing after the handshake", target: func(t *testing.T) string {
			// A listener that is never accepted from: the kernel completes
			// handshakes into the backlog, and nothing ever reads.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			return "http://" + ln.Addr().String()
		}, classes: []string{ClassTimeout}, noReply: true},
		{name: "trickles the head past the timeout", target: func(t *testing.T) string {
			return newRawTarget(t, func(c net.Conn, br *bufio.Reader) {
				for readHead(br) == nil {
					for i := range len(okResponse) {
						if _, err := c.Write([]byte{okResponse[i]}); err != nil {
							return
						}
						time.Sleep(20 * time.Millisecond) // 38 bytes: 760 ms in all
					}
				}
			}).URL()
		}, classes: []string{ClassTimeout}, noReply: true},
		{name: "trickles the body past the timeout", target: func(t *testing.T) string {
			return newRawTarget(t, func(c net.Conn, br *bufio.Reader) {
				for readHead(br) == nil {
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"); err != nil {
						return
					}
					for range 100 {
						if _, err := c.Write([]byte("x")); err != nil {
							return
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
			}).URL()
		}, classes: []string{ClassTimeout}},
		{name: "trickles within the timeout", target: func(t *testing.T) string {
			return newRawTarget(t, func(c net.Conn, br *bufio.Reader) {
				for readHead(br) == nil {
					for i := 0; i < len(okResponse); i += 8 {
						if _, err := c.Write([]byte(okResponse[i:min(i+8, len(okResponse))])); err != nil {
							return
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
			}).URL()
		}, someSucceed: true},
		{name: "resets after reading", target: func(t *testing.T) string {
			return newRawTarget(t, func(c net.Conn, br *bufio.Reader) {
				_ = readHead(br)
				_ = c.(*net.TCPConn).SetLinger(0)
			}).URL()
		}, classes: []string{ClassReset}, noReply: true},
		{name: "answers garbage", target: func(t *testing.T) string {
			return newRawTarget(t, func(c net.Conn, br *bufio.Reader) {
				_ = readHead(br)
				_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n\r\n")
			}).URL()
		}, classes: []string{ClassOther, ClassReset}, noReply: true},
		{name: "DNS failure", target: func(t *testing.T) string {
			// A label longer than 63 bytes is not a domain name: the
			// resolver rejects it without sending a query anywhere.
			return "http://" + strings.Repeat("x", 64) + ".invalid"
		}, classes: []string{ClassOther}, noReply: true},
	}
	for _, path := range clientPaths {
		for _, tc := range cases {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				w := openWorkload(tc.name, 40)
				w.Timeout = scenario.Duration(timeout)
				w.MaxInflight = 40
				sc := newScenario(500*time.Millisecond, w)
				opts := path.opts
				opts.URL = tc.target(t)
				start := time.Now()
				meter := hiccup.Start()
				res, err := Run(context.Background(), sc, opts)
				took, host := time.Since(start), meter.Stop()
				if res == nil {
					t.Fatalf("no result: %v", err)
				}
				checkAccounting(t, res)
				t.Logf("%v: %+v errors %v service max %.0fms; %v", took.Round(time.Millisecond), res.Totals, res.Errors, res.ServiceLatencyMS.Max, host)
				tot := res.Totals
				sent := sentArrivals(t, res, 20, host, 25*time.Millisecond)
				if !tc.noReply && errors.Is(err, ErrNoResponse) {
					// Every request a starved host kept past its timeout
					// fails as a timeout, whatever the target did.
					skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				}
				if tc.noReply != errors.Is(err, ErrNoResponse) {
					t.Errorf("err = %v, want ErrNoResponse: %v", err, tc.noReply)
				}
				// 0.5 s of arrivals, each bounded by the 300 ms timeout:
				// within 3 s on a quiet host, stretched by this one's delay.
				if limit := host.Allow(3 * time.Second); took > limit {
					t.Errorf("the run took %v (limit %v)", took, limit)
				}
				if most := host.Allow(timeout + 400*time.Millisecond); res.ServiceLatencyMS.Max > float64(most)/1e6 {
					t.Errorf("a request took %.0fms, past its %v timeout (at most %v on this host)", res.ServiceLatencyMS.Max, timeout, most)
				}
				// A request that a starved host keeps past its 300 ms
				// timeout fails as a timeout, whatever the target did.
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				if tc.someSucceed && tot.Succeeded != sent {
					t.Errorf("succeeded %d of %d sent", tot.Succeeded, sent)
				}
				for class, n := range res.Errors {
					if !contains(tc.classes, class) {
						t.Errorf("%d failed as %q, want only %v", n, class, tc.classes)
					}
				}
			})
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestTargetDyingMidRun: the target serves, then crashes (connections
// reset, new ones refused) half-way. The successes before and the failures
// after are all counted, by class, in their windows.
func TestTargetDyingMidRun(t *testing.T) {
	for _, path := range clientPaths {
		t.Run(path.name, func(t *testing.T) {
			rt := newRawTarget(t, func(c net.Conn, br *bufio.Reader) {
				for readHead(br) == nil {
					time.Sleep(5 * time.Millisecond)
					if _, err := io.WriteString(c, okResponse); err != nil {
						return
					}
				}
			})
			w := openWorkload("w", 200)
			w.Timeout = scenario.Duration(500 * time.Millisecond)
			sc := newScenario(2*time.Second, w)
			opts := path.opts
			opts.URL = rt.URL()
			opts.Started = func(time.Time) { time.AfterFunc(time.Second, rt.Close) }
			res, err := Run(context.Background(), sc, opts)
			if err != nil {
				t.Fatal(err)
			}
			checkAccounting(t, res)
			t.Logf("%+v errors %v", res.Totals, res.Errors)
			skipWhenHostDelayed(t, res, hostDelayForExactCounts)
			tot := res.Totals
			if tot.Scheduled != 400 || tot.Dropped != 0 {
				t.Fatalf("totals %+v", tot)
			}
			// About half before the crash succeed, about half after fail.
			if tot.Succeeded < 150 || tot.Succeeded > 250 || res.Errors[ClassRefused] < 150 {
				t.Errorf("succeeded %d, errors %v: want ~200 each side of the crash, failures refused", tot.Succeeded, res.Errors)
			}
			for class := range res.Errors {
				if class != ClassRefused && class != ClassReset {
					t.Errorf("failures classed %q", class)
				}
			}
			if len(res.Windows) != 2 || res.Windows[0].Failed > 5 || res.Windows[1].Succeeded > 5 {
				t.Errorf("windows: %+v", res.Windows)
			}
		})
	}
}

// TestRaiseOpenFileLimit lowers the soft limit and checks it is raised back
// to the hard limit.
func TestRaiseOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	low := lim
	low.Cur = min(lim.Max, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skip(err)
	}
	got, err := RaiseOpenFileLimit()
	if err != nil || got != lim.Max || OpenFileLimit() != lim.Max {
		t.Fatalf("raised to %d (%v), now %d; want the hard limit %d", got, err, OpenFileLimit(), lim.Max)
	}
}

// holdServerEnv makes the test binary a target that holds every request
// until 10,000 are open at once (or 20 s pass), then answers them all and
// any later ones at once, and on stdin's end prints the peak of
// concurrent connections. It runs as its own process so that the
// generator's 10,000 sockets and the target's each fit the open-file limit.
const holdServerEnv = "ILITIES_TEST_HOLD_SERVER"

func TestHelperHoldServer(t *testing.T) {
	if os.Getenv(holdServerEnv) == "" {
		t.Skip("a helper process for TestTenThousandConnections")
	}
	_, _ = RaiseOpenFileLimit()
	const want = 10000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	var open, peak atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	time.AfterFunc(20*time.Second, func() { once.Do(func() { close(release) }) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n := open.Add(1)
				defer open.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if n >= want {
					once.Do(func() { close(release) })
				}
				br := bufio.NewReaderSize(c, 512)
				for readHead(br) == nil {
					<-release
					if _, err := io.WriteString(c, okResponse); err != nil {
						return
					}
				}
			}()
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Printf("peak %d\n", peak.Load())
	os.Exit(0)
}

// TestTenThousandConnections: 10,000 closed-loop users, each on its own
// connection, all in flight at once against a target in another process.
func TestTenThousandConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	if limit, _ := RaiseOpenFileLimit(); limit < 10500 {
		t.Skipf("the open-file limit is %d; 10,000 connections need more", limit)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldServer$")
	cmd.Env = append(os.Environ(), holdServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatal("the target process printed no address")
	}
	addr := lines.Text()

	w := closedWorkload("crowd", 10000)
	w.Timeout = sec(30)
	w.MaxInflight = 10000
	sc := newScenario(3*time.Second, w)
	start := time.Now()
	res, err := Run(context.Background(), sc, Options{URL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	stdin.Close()
	var peak int
	for lines.Scan() {
		fmt.Sscanf(lines.Text(), "peak %d", &peak)
	}
	checkAccounting(t, res)
	t.Logf("%v: %+v errors %v; target's peak %d concurrent connections; service p50 %.0fms max %.0fms",
		took.Round(time.Millisecond), res.Totals, res.Errors, peak, res.ServiceLatencyMS.P50, res.ServiceLatencyMS.Max)
	// 10,000 connections opened within the run's 3 s need the CPU for
	// it: a starved host opens fewer.
	skipWhenHostDelayed(t, res, hostDelayForExactCounts)
	if peak < 10000 {
		t.Errorf("the target saw at most %d connections at once, want 10000", peak)
	}
	if res.Totals.Failed != 0 || res.Totals.Succeeded < 10000 {
		t.Errorf("totals %+v errors %v: want every request of the 10,000 users to succeed", res.Totals, res.Errors)
	}
}
