package backend

import (
	"net/http"
	"strconv"

	"github.com/ilities/ilities/internal/headers"
)

// setLoadHeader reports the backend's load with each answer, as
// "inflight=<requests holding a worker>;workers=<workers>;queue=<waiting>",
// measured when the answer leaves. The proxy's resource-aware strategy
// balances on it; the same figures are in Stats.
func (b *Backend) setLoadHeader(w http.ResponseWriter) {
	b.mu.Lock()
	inflight, workers, queue := b.busy, b.limit(), len(b.queue)
	b.mu.Unlock()
	buf := make([]byte, 0, 48)
	buf = append(buf, "inflight="...)
	buf = strconv.AppendInt(buf, int64(inflight), 10)
	buf = append(buf, ";workers="...)
	buf = strconv.AppendInt(buf, int64(workers), 10)
	buf = append(buf, ";queue="...)
	buf = strconv.AppendInt(buf, int64(queue), 10)
	w.Header()[headers.Load] = []string{string(buf)}
}
