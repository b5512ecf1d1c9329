package backend

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/ilities/ilities/internal/headers"
)

// padding is what bodies are padded with to reach their drawn size.
var padding = []byte(strings.Repeat("x", 32<<10))

// cut says how a response ends short of its Content-Length.
type cut uint8

const (
	whole    cut = iota
	truncate     // half the body, then the connection is closed (FIN)
	reset        // half the body, then the connection is reset (RST)
)

// writeBody answers 200 with the Server-Timing of j and a body of the
// configured size, whole or cut after half of it.
func (b *Backend) writeBody(w http.ResponseWriter, j *job, how cut) {
	line := "ok " + b.cfg.Name + "\n"
	size := int64(len(line))
	if b.cfg.ResponseSize != nil {
		b.mu.Lock()
		size = max(b.cfg.ResponseSize.SampleSize(b.sizeRNG), 0)
		b.mu.Unlock()
	}
	b.setLoadHeader(w)
	h := w.Header()
	h.Set(headers.ServerTiming, b.timing(j))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	send := size
	if how != whole {
		send = size / 2
	}
	if int64(len(line)) > send {
		line = line[:send]
	}
	_, _ = io.WriteString(w, line)
	for left := send - int64(len(line)); left > 0; {
		n := min(left, int64(len(padding)))
		if _, err := w.Write(padding[:n]); err != nil {
			return
		}
		left -= n
	}
	rc := http.NewResponseController(w)
	switch how {
	case truncate:
		_ = rc.Flush()
		panic(http.ErrAbortHandler) // closes the connection short of Content-Length
	case reset:
		conn, _, err := rc.Hijack() // flushes what was written
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST, not FIN
		}
		_ = conn.Close()
	}
}

// timing is the Server-Timing of j: its wait for a worker and its service.
// A tier that calls others leaves out its wait, which the host's delays in
// the calls of the requests before it lengthen (the verdicts read the
// entries as the part of the latency no delay of the tool made), and adds
// its time in calls.
func (b *Backend) timing(j *job) string {
	service := headers.TimingService + ";dur=" + ms(j.end-j.start)
	if len(b.cfg.Calls) == 0 {
		return headers.TimingQueue + ";dur=" + ms(j.start-j.arrive) + ", " + service
	}
	return service + ", " + headers.TimingCalls + ";dur=" + ms(j.until-j.end)
}
