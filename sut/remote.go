package sut

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/proxy"
)

// controlTimeout bounds every control call. Calls answer in well under a
// millisecond; a process that has not answered in this long is stuck, and
// a run must not wait on it.
const controlTimeout = 5 * time.Second

// Remote is a topology running in another process, driven through its
// control API (ControlHandler). It has the methods of *Topology a run uses,
// with the same signatures. Those that cannot return an error return
// nothing when a call fails; Err says what went wrong.
//
// Once a call cannot reach the process (refused, cut, timed out), the
// remote counts as lost and every later call fails at once: a dead SUT is
// an error of the run, never a wait.
type Remote struct {
	base   string
	client *http.Client
	urls   []string
	// child is the process the remote runs in, when StartChild started it.
	child *child

	mu   sync.Mutex
	lost error // the first failure to reach the process
	// lostNamesExit: lost already says how the child ended.
	lostNamesExit bool
}

// Dial connects to the control API at controlURL and reads the topology's
// URLs; ctx bounds the dial.
func Dial(ctx context.Context, controlURL string) (*Remote, error) {
	r := &Remote{
		base: controlURL,
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // loopback, never through a proxy
			MaxIdleConnsPerHost: 4,
			DisableCompression:  true,
		}},
	}
	if err := r.call(ctx, http.MethodGet, "/urls", nil, &r.urls); err != nil {
		return nil, err
	}
	if len(r.urls) == 0 {
		return nil, errors.New("sut: the remote topology has no URL")
	}
	return r, nil
}

// URLs are the base URLs of every proxy replica, in order.
func (r *Remote) URLs() []string { return append([]string(nil), r.urls...) }

// Nodes returns every backend's statistics (nil when the call failed).
func (r *Remote) Nodes() []NodeStats {
	var out []NodeStats
	r.get("/nodes", &out)
	return out
}

// ReplicaStats returns each proxy replica's statistics (nil when the call failed).
func (r *Remote) ReplicaStats() []proxy.Stats {
	var out []proxy.Stats
	r.get("/replica-stats", &out)
	return out
}

// Forwarded returns, per backend, the requests the proxy replicas have sent it.
func (r *Remote) Forwarded() map[string]int64 {
	out := map[string]int64{}
	r.get("/forwarded", &out)
	return out
}

// HealthEvents returns each proxy replica's health events so far.
func (r *Remote) HealthEvents() [][]HealthEvent {
	var out [][]HealthEvent
	r.get("/health-events", &out)
	return out
}

// ResetStats restarts every backend's and proxy replica's statistics.
func (r *Remote) ResetStats() { _ = r.do(http.MethodPost, "/reset-stats", nil, nil) }

// Inject applies the fault f now in the remote topology; the Lift lifts it
// there. Lifting twice does nothing.
func (r *Remote) Inject(f scenario.Fault) (Lift, error) {
	var id liftID
	if err := r.do(http.MethodPost, "/inject", f, &id); err != nil {
		return nil, err
	}
	return once(func() error {
		return r.do(http.MethodPost, "/lift/"+strconv.FormatInt(id.Lift, 10), nil, nil)
	}), nil
}

// Begin tells the remote process the run's time origin, from which its
// hiccup sampler counts windows.
func (r *Remote) Begin(start time.Time) error {
	return r.do(http.MethodPost, "/begin", begin{StartUnixNano: start.UnixNano()}, nil)
}

// Hiccups stops the remote process's hiccup sampler and returns what it
// measured in windows [0, windows) of the run.
func (r *Remote) Hiccups(windows int) (Hiccups, error) {
	var h Hiccups
	err := r.do(http.MethodPost, "/sut-hiccups?windows="+strconv.Itoa(windows), nil, &h)
	return h, err
}

// Err is the first failure to reach the remote process (for a child, with
// how it ended), or nil.
func (r *Remote) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost != nil && r.child != nil && !r.lostNamesExit {
		// A busy host may reap the exit after lose's short wait: name it
		// now if it has come since.
		if ended := r.child.endedNow(); ended != nil {
			r.lost, r.lostNamesExit = fmt.Errorf("%w (first seen as: %v)", ended, r.lost), true
		}
	}
	return r.lost
}

// Close stops the child process when StartChild started it, and returns
// once it is gone; otherwise it only drops the connections.
func (r *Remote) Close() error {
	r.client.CloseIdleConnections()
	if r.child == nil {
		return nil
	}
	return r.child.stop()
}

func (r *Remote) get(path string, into any) { _ = r.do(http.MethodGet, path, nil, into) }

// do makes one call bounded by controlTimeout.
func (r *Remote) do(method, path string, body, into any) error {
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	return r.call(ctx, method, path, body, into)
}

// call sends body (JSON, when not nil) and decodes the answer into into.
func (r *Remote) call(ctx context.Context, method, path string, body, into any) error {
	if err := r.Err(); err != nil {
		return err
	}
	if r.child != nil {
		// The child's end cuts the call short rather than leaving it to the timeout.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(r.child.exitedCtx, cancel)
		defer stop()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("sut: control %s: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return fmt.Errorf("sut: control %s: %w", path, err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return r.lose(fmt.Errorf("sut: control %s: %w", path, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var ce controlError
		if json.NewDecoder(resp.Body).Decode(&ce) != nil || ce.Error == "" {
			ce.Error = resp.Status
		}
		return errors.New(ce.Error) // the remote topology's own answer, as Topology would give it
	}
	if into == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return r.lose(fmt.Errorf("sut: control %s: reading the answer: %w", path, err))
	}
	return nil
}

// lose records the first failure to reach the process, naming how a child
// ended when it did, and returns what it recorded.
func (r *Remote) lose(err error) error {
	exited := false
	if r.child != nil {
		if ended := r.child.ended(); ended != nil {
			err, exited = ended, true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost == nil {
		r.lost, r.lostNamesExit = err, exited
	}
	return r.lost
}
