package sut

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/proxy"
)

// The control API drives a topology that runs in another process (a child
// of the generator, see StartChild and Remote) with what a run needs of it:
//
//	GET  /urls            []string: the proxy replicas' base URLs
//	GET  /nodes           []NodeStats
//	GET  /replica-stats   []proxy.Stats
//	GET  /forwarded       map[string]int64
//	GET  /health-events   [][]HealthEvent
//	POST /reset-stats     restart every statistic
//	POST /inject          body: a scenario.Fault; answers {"lift": id}
//	POST /lift/{id}       lift the fault injected as id
//	POST /begin           body: {"start_unix_nano": n}, the run's start
//	POST /sut-hiccups     ?windows=N: stop the hiccup sampler, answer Hiccups
//
// Every body is JSON. A failure answers a 4xx or 5xx status with
// {"error": "..."}; a fault that cannot be injected is such a failure, not
// a broken API.

// HiccupMeter measures the SUT process's own delays for a run, on the run's
// clock (the idea of jHiccup: how late a short sleep wakes). Package run
// provides it, with the load engine's meter; the SUT only serves what it
// measured.
type HiccupMeter interface {
	// Begin starts measuring with the run's time origin.
	Begin(start time.Time)
	// End stops measuring and returns the hiccups of windows [0, windows)
	// of the run. Later calls return the same.
	End(windows int) (Hiccups, error)
}

// Hiccups are the SUT process's own delays over a run.
type Hiccups struct {
	// Histogram is the whole run's, encoded as report.EncodeHistogram does
	// (µs); "" when nothing was measured.
	Histogram string         `json:"histogram"`
	Windows   []HiccupWindow `json:"windows"`
}

// HiccupWindow is the hiccups of one second of the run.
type HiccupWindow struct {
	T     int     `json:"t"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

// begin is POST /begin's body: a wall-clock instant, which both processes
// read from the same CLOCK_REALTIME.
type begin struct {
	StartUnixNano int64 `json:"start_unix_nano"`
}

type liftID struct {
	Lift int64 `json:"lift"`
}

type controlError struct {
	Error string `json:"error"`
}

// ControlHandler serves t's control API; meter, when not nil, answers
// /begin and /sut-hiccups (without it they fail).
func ControlHandler(t *Topology, meter HiccupMeter) http.Handler {
	c := &control{topo: t, meter: meter, lifts: map[int64]Lift{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /urls", func(w http.ResponseWriter, _ *http.Request) { reply(w, t.URLs()) })
	mux.HandleFunc("GET /nodes", func(w http.ResponseWriter, _ *http.Request) { reply(w, t.Nodes()) })
	mux.HandleFunc("GET /replica-stats", func(w http.ResponseWriter, _ *http.Request) { reply(w, t.ReplicaStats()) })
	mux.HandleFunc("GET /forwarded", func(w http.ResponseWriter, _ *http.Request) { reply(w, t.Forwarded()) })
	mux.HandleFunc("GET /health-events", func(w http.ResponseWriter, _ *http.Request) { reply(w, t.HealthEvents()) })
	mux.HandleFunc("POST /reset-stats", func(w http.ResponseWriter, _ *http.Request) {
		t.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /inject", c.inject)
	mux.HandleFunc("POST /lift/{id}", c.lift)
	mux.HandleFunc("POST /begin", c.begin)
	mux.HandleFunc("POST /sut-hiccups", c.hiccups)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A request body is a fault or a time: small, whoever sends it.
		r.Body = http.MaxBytesReader(w, r.Body, maxControlBody)
		mux.ServeHTTP(w, r)
	})
}

// maxControlBody bounds a control request's body.
const maxControlBody = 1 << 20

type control struct {
	topo  *Topology
	meter HiccupMeter

	mu     sync.Mutex
	lifts  map[int64]Lift
	nextID int64
}

func (c *control) inject(w http.ResponseWriter, r *http.Request) {
	var f scenario.Fault
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("reading the fault: %w", err))
		return
	}
	lift, err := c.topo.Inject(f)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, err)
		return
	}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.lifts[id] = lift
	c.mu.Unlock()
	reply(w, liftID{Lift: id})
}

func (c *control) lift(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	c.mu.Lock()
	lift, ok := c.lifts[id]
	delete(c.lifts, id)
	c.mu.Unlock()
	if err != nil || !ok {
		fail(w, http.StatusNotFound, fmt.Errorf("no injected fault %q", r.PathValue("id")))
		return
	}
	if err := lift(); err != nil {
		fail(w, http.StatusUnprocessableEntity, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *control) begin(w http.ResponseWriter, r *http.Request) {
	var b begin
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.StartUnixNano <= 0 {
		fail(w, http.StatusBadRequest, errors.New(`want {"start_unix_nano": n}`))
		return
	}
	if c.meter == nil {
		fail(w, http.StatusNotImplemented, errors.New("no hiccup meter"))
		return
	}
	c.meter.Begin(onThisClock(time.Unix(0, b.StartUnixNano)))
	w.WriteHeader(http.StatusNoContent)
}

// onThisClock is the instant wall, as this process's monotonic clock has it,
// so that time.Since(start) is not moved by later changes of the wall clock.
func onThisClock(wall time.Time) time.Time {
	now := time.Now()
	return now.Add(wall.Sub(now)) // now has a monotonic reading; wall has none
}

func (c *control) hiccups(w http.ResponseWriter, r *http.Request) {
	windows, err := strconv.Atoi(r.URL.Query().Get("windows"))
	if err != nil || windows < 0 {
		fail(w, http.StatusBadRequest, errors.New("want ?windows=N"))
		return
	}
	if c.meter == nil {
		fail(w, http.StatusNotImplemented, errors.New("no hiccup meter"))
		return
	}
	h, err := c.meter.End(windows)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	reply(w, h)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(controlError{Error: err.Error()})
}

// ControlServer serves a topology's control API on a loopback address.
type ControlServer struct {
	srv *http.Server
	url string
}

// ServeControl serves ControlHandler(t, meter) on addr, which must be a
// loopback address (port 0: any free port): the API can stop backends and
// is no business of anyone else on the network.
func ServeControl(t *Topology, addr string, meter HiccupMeter) (*ControlServer, error) {
	if err := CheckControlAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sut: control: %w", err)
	}
	srv := &http.Server{Handler: ControlHandler(t, meter), ReadHeaderTimeout: controlTimeout}
	go func() {
		defer crash.Guard()
		_ = srv.Serve(ln)
	}()
	return &ControlServer{srv: srv, url: "http://" + ln.Addr().String()}, nil
}

// CheckControlAddr accepts a loopback host:port (port 0: any free port).
func CheckControlAddr(addr string) error {
	if err := proxy.CheckLoopback(addr); err != nil {
		return fmt.Errorf("sut: control address %q: %w", addr, err)
	}
	return nil
}

// URL is the control API's base URL, e.g. "http://127.0.0.1:41235".
func (c *ControlServer) URL() string { return c.url }

// Close stops serving; calls in progress are cut.
func (c *ControlServer) Close() error { return c.srv.Close() }
