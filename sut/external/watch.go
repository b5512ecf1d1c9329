package external

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxEvents bounds each watcher's event log.
const maxEvents = 10000

// log keeps events and per-backend attempt counts.
type log struct {
	mu    sync.Mutex
	evs   []Event
	count map[string]int64
}

func (l *log) add(e Event) {
	if len(l.evs) < maxEvents {
		l.evs = append(l.evs, e)
	}
}

func (l *log) events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.evs...)
}

func (l *log) forwarded() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.count))
	for k, v := range l.count {
		out[k] = v
	}
	return out
}

// upstreamIndex maps each backend's address to its name and pool.
func upstreamIndex(cfg Config) map[string][2]string {
	out := map[string][2]string{}
	for _, p := range cfg.Pools {
		for _, u := range p.Upstreams {
			out[u.Addr] = [2]string{u.Name, p.Name}
		}
	}
	return out
}

// nginxWatcher follows nginx's access log, where each request lists the
// upstream attempts it made and their statuses, and replays nginx's
// passive rule: MaxFails failed attempts within FailTimeout make a backend
// unavailable (an event); a later successful attempt makes it available.
type nginxWatcher struct {
	log
	path        string
	offset      int64
	partial     []byte
	byAddr      map[string][2]string
	maxFails    int
	failTimeout time.Duration
	state       map[string]*nginxPeer
}

type nginxPeer struct {
	fails     int
	firstFail time.Time
	down      bool
}

func newNginxWatcher(path string, cfg Config) *nginxWatcher {
	w := &nginxWatcher{path: path, byAddr: upstreamIndex(cfg), maxFails: max(cfg.Passive.MaxFails, 1),
		failTimeout: cfg.Passive.FailTimeout, state: map[string]*nginxPeer{}}
	if w.failTimeout <= 0 {
		w.failTimeout = 10 * time.Second
	}
	w.count = map[string]int64{}
	return w
}

func (w *nginxWatcher) poll(time.Time) {
	f, err := os.Open(w.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(w.offset, io.SeekStart); err != nil {
		return
	}
	data, err := io.ReadAll(f)
	if err != nil || len(data) == 0 {
		return
	}
	w.offset += int64(len(data))
	data = append(w.partial, data...)
	last := bytes.LastIndexByte(data, '\n')
	if last < 0 {
		w.partial = data
		return
	}
	w.partial = append([]byte(nil), data[last+1:]...)
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(data[:last+1]))
	for sc.Scan() {
		w.line(sc.Text())
	}
}

// line reads "msec|addr, addr|status, status|status".
func (w *nginxWatcher) line(s string) {
	f := strings.Split(s, "|")
	if len(f) < 3 {
		return
	}
	sec, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return
	}
	at := time.Unix(0, int64(sec*1e9))
	addrs := splitList(f[1])
	statuses := splitList(f[2])
	for i, addr := range addrs {
		id, ok := w.byAddr[addr]
		if !ok {
			continue
		}
		w.count[id[0]]++
		status := 0
		if i < len(statuses) {
			status, _ = strconv.Atoi(statuses[i])
		}
		// What nginx counts as a failed attempt under proxy_next_upstream
		// error timeout: no response (502 from a refused or reset
		// connection, 504 from a timeout).
		failed := status == 0 || status == 502 || status == 504
		p := w.state[id[0]]
		if p == nil {
			p = &nginxPeer{}
			w.state[id[0]] = p
		}
		if !failed {
			p.fails = 0
			if p.down {
				p.down = false
				w.add(Event{At: at, Pool: id[1], Upstream: id[0], Healthy: true, Reason: "nginx: a request succeeded (access log)"})
			}
			continue
		}
		if p.fails == 0 || at.Sub(p.firstFail) > w.failTimeout {
			p.fails, p.firstFail = 0, at
		}
		p.fails++
		if !p.down && p.fails >= w.maxFails {
			p.down = true
			w.add(Event{At: at, Pool: id[1], Upstream: id[0], Healthy: false,
				Reason: "nginx passive: " + strconv.Itoa(p.fails) + " failed attempts (max_fails, from the access log)"})
		}
	}
}

// splitList splits nginx's "a, b : c" lists of attempts.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		for _, p := range strings.Split(part, " : ") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// haproxyWatcher reads HAProxy's "show stat" from its stats socket: each
// server's status (UP, DOWN after its checks failed) and its cumulative
// sessions.
type haproxyWatcher struct {
	log
	socket string
	byName map[string]string // server name -> pool
	down   map[string]bool
}

func newHAProxyWatcher(socket string, cfg Config) *haproxyWatcher {
	w := &haproxyWatcher{socket: socket, byName: map[string]string{}, down: map[string]bool{}}
	for _, p := range cfg.Pools {
		for _, u := range p.Upstreams {
			w.byName[u.Name] = p.Name
		}
	}
	w.count = map[string]int64{}
	return w
}

func (w *haproxyWatcher) poll(now time.Time) {
	rows, err := haproxyStat(w.socket)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range rows {
		pool, ok := w.byName[r["svname"]]
		if !ok {
			continue
		}
		name := r["svname"]
		if n, err := strconv.ParseInt(r["stot"], 10, 64); err == nil {
			w.count[name] = n
		}
		down := strings.HasPrefix(r["status"], "DOWN")
		if down != w.down[name] {
			w.down[name] = down
			reason := "haproxy: active check passed (stats socket)"
			if down {
				reason = "haproxy active check: " + strings.TrimSpace(r["check_status"]+" "+r["check_desc"]) + " (stats socket)"
			}
			w.add(Event{At: now, Pool: pool, Upstream: name, Healthy: !down, Reason: reason})
		}
	}
}

// haproxyStat runs "show stat" on the stats socket and returns its rows by
// column name.
func haproxyStat(socket string) ([]map[string]string, error) {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("show stat\n")); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("# "))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	head := recs[0]
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := make(map[string]string, len(head))
		for i, h := range head {
			if i < len(rec) {
				m[h] = rec[i]
			}
		}
		out = append(out, m)
	}
	return out, nil
}
