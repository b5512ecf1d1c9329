// Command station measures what the built-in backend adds to a request's
// time, alone, against floors on the same host: a station whose every
// service takes 10 ms and never waits (16 workers), served by
//
//   - backend: sut/backend, as the built-in SUT serves it;
//
//   - nethttp: net/http's server with a handler that sleeps on
//     internal/hrtimer and answers (the transport alone, no station);
//
//   - thread: a thread per connection, blocking in read and nanosleep
//     (the kernel's own wake-ups, nothing of the runtime's scheduler).
//
//     go run ./bench/station [-rounds 5] [-n 400] [-clients 2]
//
// Each server runs in a process of its own (this command, -serve KIND),
// and the client in this one: threads blocking in plain system calls,
// one connection each, a request at a time, 1–4 ms apart. The servers take
// turns, round after round. Per server and round: added is the mean
// latency less the 10 ms service (what the server and the two wake-ups
// of the client's read and the server's read cost), p50 its median; vcs,
// ics and cpu are the server process's voluntary and involuntary context
// switches and CPU time per request (getrusage around the requests). The
// last lines are the medians over the rounds.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ilities/ilities/internal/hrtimer"
	"github.com/ilities/ilities/sut/backend"
)

const service = 10 * time.Millisecond

type constant time.Duration

func (c constant) Sample(*rand.Rand) time.Duration { return time.Duration(c) }

const answer = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nServer-Timing: queue;dur=0.000, service;dur=10.000\r\n\r\nok stn\n"

func main() {
	serve := flag.String("serve", "", "serve this kind (backend, nethttp, thread) and report its rusage: the server's process")
	kinds := flag.String("kinds", "thread,nethttp,backend", "servers to compare, in turn")
	rounds := flag.Int("rounds", 5, "rounds")
	n := flag.Int("n", 400, "requests per client and round")
	clients := flag.Int("clients", 2, "client threads, a connection each")
	flag.Parse()
	if *serve != "" {
		if err := serveKind(*serve); err != nil {
			fail(err)
		}
		return
	}
	up, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# %s, loadavg %s", time.Now().Format(time.RFC3339), up)
	fmt.Printf("%-8s %5s %10s %8s %6s %6s %8s\n", "server", "round", "added µs", "p50 µs", "vcs", "ics", "cpu µs")
	type fig struct{ added, p50, vcs, ics, cpu []float64 }
	figs := map[string]*fig{}
	order := strings.Split(*kinds, ",")
	for r := 1; r <= *rounds; r++ {
		for _, k := range order {
			m, err := measure(k, *n, *clients)
			if err != nil {
				fail(fmt.Errorf("%s: %w", k, err))
			}
			fmt.Printf("%-8s %5d %10.1f %8.1f %6.2f %6.2f %8.1f\n", k, r, m.added, m.p50, m.vcs, m.ics, m.cpu)
			f := figs[k]
			if f == nil {
				f = &fig{}
				figs[k] = f
			}
			f.added, f.p50 = append(f.added, m.added), append(f.p50, m.p50)
			f.vcs, f.ics, f.cpu = append(f.vcs, m.vcs), append(f.ics, m.ics), append(f.cpu, m.cpu)
		}
	}
	for _, k := range order {
		f := figs[k]
		fmt.Printf("%-8s %5s %10.1f %8.1f %6.2f %6.2f %8.1f\n", k, "med", median(f.added), median(f.p50), median(f.vcs), median(f.ics), median(f.cpu))
	}
	up, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("# done %s, loadavg %s", time.Now().Format(time.RFC3339), up)
}

type measured struct{ added, p50, vcs, ics, cpu float64 }

// measure starts the server kind in a process of its own and sends it
// n requests from each client.
func measure(kind string, n, clients int) (measured, error) {
	cmd := exec.Command(os.Args[0], "-serve", kind)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return measured{}, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return measured{}, err
	}
	if err := cmd.Start(); err != nil {
		return measured{}, err
	}
	defer func() { _ = cmd.Wait() }()
	out := bufio.NewScanner(outp)
	if !out.Scan() {
		in.Close()
		return measured{}, fmt.Errorf("no address")
	}
	ap, err := netip.ParseAddrPort(out.Text())
	if err != nil {
		in.Close()
		return measured{}, err
	}
	lat, err := send(ap, n, clients)
	_, _ = in.Write([]byte("done\n")) // the server reports its rusage since it started serving
	in.Close()
	if err != nil {
		return measured{}, err
	}
	if !out.Scan() {
		return measured{}, fmt.Errorf("no rusage")
	}
	var vcs, ics, cpu float64
	if _, err := fmt.Sscan(out.Text(), &vcs, &ics, &cpu); err != nil {
		return measured{}, err
	}
	total := float64(n * clients)
	var sum float64
	for _, x := range lat {
		sum += x
	}
	return measured{added: sum / float64(len(lat)), p50: median(lat), vcs: vcs / total, ics: ics / total, cpu: cpu / total}, nil
}

// send runs the clients: threads in blocking system calls, a connection
// each; it returns each request's latency less the service, in µs (the
// first 20 of each client left out: connections and pools warming).
func send(ap netip.AddrPort, n, clients int) ([]float64, error) {
	var mu sync.Mutex
	var lat []float64
	var firstErr error
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			runtime.LockOSThread()
			own, err := client(ap, n)
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, own...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	return lat, firstErr
}

func client(ap netip.AddrPort, n int) ([]float64, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if err := syscall.Connect(fd, sa); err != nil {
		return nil, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	req := []byte("GET / HTTP/1.1\r\nHost: station\r\n\r\n")
	buf := make([]byte, 4096)
	var lat []float64
	for i := range n {
		gap := syscall.NsecToTimespec(int64(time.Millisecond) * int64(1+rand.Intn(4)))
		_ = syscall.Nanosleep(&gap, nil)
		start := time.Now()
		if _, err := syscall.Write(fd, req); err != nil {
			return lat, err
		}
		if err := readAnswer(fd, buf); err != nil {
			return lat, err
		}
		if took := time.Since(start); i >= 20 {
			lat = append(lat, float64(took-service)/1e3)
		}
	}
	return lat, nil
}

// readAnswer reads one response with a Content-Length body.
func readAnswer(fd int, buf []byte) error {
	got := 0
	for {
		m, err := syscall.Read(fd, buf[got:])
		if err != nil {
			return err
		}
		if m == 0 {
			return fmt.Errorf("connection closed")
		}
		got += m
		h := bytes.Index(buf[:got], []byte("\r\n\r\n"))
		if h < 0 {
			continue
		}
		i := bytes.Index(buf[:h+2], []byte("Content-Length: "))
		if i < 0 {
			return fmt.Errorf("no Content-Length")
		}
		e := bytes.IndexByte(buf[i:h+2], '\r')
		size, err := strconv.Atoi(string(buf[i+len("Content-Length: ") : i+e]))
		if err != nil {
			return err
		}
		if got >= h+4+size {
			return nil
		}
	}
}

// serveKind serves one kind, prints its address, and when its standard
// input has a line (or ends) prints its voluntary and involuntary context
// switches and CPU time in µs since it began serving.
func serveKind(kind string) error {
	var addr string
	switch kind {
	case "backend":
		b := backend.New(backend.Config{Name: "stn", Workers: 16, Queue: 1000, ServiceTime: constant(service)})
		if err := b.Start("127.0.0.1:0"); err != nil {
			return err
		}
		addr = b.Addr()
	case "nethttp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go func() {
			_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hrtimer.Sleep(service, nil)
				w.Header().Set("Server-Timing", "queue;dur=0.000, service;dur=10.000")
				_, _ = w.Write([]byte("ok stn\n"))
			}))
		}()
		addr = ln.Addr().String()
	case "thread":
		a, err := threadServer()
		if err != nil {
			return err
		}
		addr = a
	default:
		return fmt.Errorf("unknown server %q (backend, nethttp, thread)", kind)
	}
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	fmt.Println(addr)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := (after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()) / 1e3
	fmt.Println(after.Nvcsw-before.Nvcsw, after.Nivcsw-before.Nivcsw, cpu)
	return nil
}

// threadServer serves each connection on a thread of its own, blocking in
// read, nanosleep and write.
func threadServer() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f, err := c.(*net.TCPConn).File() // a blocking duplicate
			c.Close()
			if err != nil {
				continue
			}
			go func() {
				runtime.LockOSThread()
				defer f.Close()
				fd := int(f.Fd())
				buf := make([]byte, 4096)
				for {
					if n, err := syscall.Read(fd, buf); n <= 0 || err != nil {
						return
					}
					ts := syscall.NsecToTimespec(int64(service))
					_ = syscall.Nanosleep(&ts, nil)
					if _, err := syscall.Write(fd, []byte(answer)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "station:", err)
	os.Exit(1)
}
