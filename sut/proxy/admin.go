package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/ilities/ilities/internal/crash"
)

// The admin listener serves the proxy's statistics (GET StatsPath) on a
// loopback address of its own (Config.Admin), never on the public port:
// they name every upstream and its internal address, which is the
// operator's business, not a client's. As with Envoy's admin interface, the
// data plane knows nothing of it: a request for StatsPath on the public port
// is routed like any other path.

// DefaultAdmin is the admin listener's address when Config.Admin is empty.
const DefaultAdmin = "127.0.0.1:0"

// adminTimeout bounds reading a request and writing its answer on the admin
// listener; a snapshot is small and local.
const adminTimeout = 5 * time.Second

// adminServer is a running admin listener.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

// CheckLoopback accepts a loopback host:port (port 0: any free port), as
// the admin listener (and the SUT's control API) must be.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("want a loopback address such as 127.0.0.1:0")
	}
	return nil
}

// startAdmin listens on addr and serves stats there until close.
func startAdmin(addr string, stats func() Stats) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatsPath, func(w http.ResponseWriter, _ *http.Request) {
		body, _ := json.Marshal(stats())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
	a := &adminServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: adminTimeout,
		ReadTimeout:       adminTimeout,
		WriteTimeout:      adminTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    8 << 10,
	}}
	go func() {
		defer crash.Guard()
		_ = a.srv.Serve(ln)
	}()
	return a, nil
}

// addr is the listen address, e.g. "127.0.0.1:41235".
func (a *adminServer) addr() string { return a.ln.Addr().String() }

// close stops serving; requests in progress are cut. The listener is closed
// here too, in case Serve had not begun (it would then never close it).
func (a *adminServer) close() error {
	err := a.srv.Close()
	_ = a.ln.Close()
	return err
}
