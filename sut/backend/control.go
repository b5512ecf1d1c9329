package backend

import (
	"encoding/json"
	"net/http"
)

// ControlPath is the path prefix of a backend's own endpoints (with
// Config.Control): GET ControlPath+"stats" answers Stats as JSON.
const ControlPath = "/.ilities/"

// serveControl answers the control endpoints; false when r is not for one.
func (b *Backend) serveControl(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case ControlPath + "stats":
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(b.Stats())
		return true
	}
	return false
}
