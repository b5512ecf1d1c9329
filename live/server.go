package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ilities/ilities/internal/crash"
)

// Path is where Server serves the metrics.
const Path = "/metrics"

// DefaultLinger is how long Finish serves at most after a run, waiting for
// a scrape of its final figures.
const DefaultLinger = 5 * time.Second

// ListenAddr is the address to listen on for addr as a user writes it: a
// host left out is loopback (":9464" is 127.0.0.1:9464), so the figures
// leave the machine only when another host is written; port 0 picks a
// free port.
func ListenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q: want host:port or :port, such as :9464 or 127.0.0.1:0", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%q: port %q: want a number from 0 to 65535", addr, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Server serves Metrics at Path over HTTP.
type Server struct {
	metrics *Metrics
	ln      net.Listener
	srv     *http.Server
	served  chan struct{} // closed when the HTTP server has stopped

	// finished is set by Finish; finalScrape is closed by the first
	// scrape that began after it, which read the final figures.
	finished    atomic.Bool
	finalScrape chan struct{}
	finalOnce   sync.Once

	closeOnce sync.Once
	closeErr  error
}

// Listen serves m on addr (see ListenAddr) until Finish or Close.
func Listen(addr string, m *Metrics) (*Server, error) {
	hostport, err := ListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", hostport)
	if err != nil {
		return nil, err
	}
	s := &Server{metrics: m, ln: ln, served: make(chan struct{}), finalScrape: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle(Path, s.noteFinalScrape(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer crash.Guard()
		defer close(s.served)
		_ = s.srv.Serve(ln) // ends with Close
	}()
	return s, nil
}

// URL is where the metrics are, with the port actually listened on.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + Path }

// Addr is the address listened on, with its actual port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) noteFinalScrape(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		final := s.finished.Load()
		h.ServeHTTP(w, r)
		if final {
			s.finalOnce.Do(func() { close(s.finalScrape) })
		}
	})
}

// Finish marks the run over and keeps serving until a scrape has read the
// final figures, for linger at most, or until ctx ends; then it closes the
// server. It reports whether the final figures were scraped. The figures
// must be final when it is called.
func (s *Server) Finish(ctx context.Context, linger time.Duration) (scraped bool, err error) {
	s.metrics.end()
	s.finished.Store(true)
	wait := time.NewTimer(linger)
	defer wait.Stop()
	select {
	case <-s.finalScrape:
		scraped = true
	case <-wait.C:
	case <-ctx.Done():
	}
	return scraped, s.Close()
}

// Close stops serving, at once or again: a scrape under way gets a
// second to end.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.closeErr = s.srv.Shutdown(ctx)
		if errors.Is(s.closeErr, context.DeadlineExceeded) {
			s.closeErr = s.srv.Close()
		}
		<-s.served
	})
	return s.closeErr
}
