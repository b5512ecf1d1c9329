package backend

import (
	"net/http"
	"strconv"

	"github.com/ilities/ilities/internal/headers"
)

// SessionCookie is the cookie carrying a backend's session id.
const SessionCookie = "ilities_session"

// maxSessions bounds the session store; past it the oldest session is
// forgotten (a request carrying it then counts as a lost session).
const maxSessions = 1 << 20

// sessionStore is a backend's set of live sessions. Ids are "<node>.<n>",
// deterministic for a given request order.
type sessionStore struct {
	prefix string
	next   int64
	live   map[string]struct{}
	order  []string // creation order, for the bound
}

func (s *sessionStore) init(node string) {
	s.prefix = node + "."
	s.live = map[string]struct{}{}
}

func (s *sessionStore) create() string {
	s.next++
	id := s.prefix + strconv.FormatInt(s.next, 10)
	s.live[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > maxSessions {
		delete(s.live, s.order[0])
		s.order = s.order[1:]
	}
	return id
}

func (s *sessionStore) clear() {
	clear(s.live)
	s.order = nil
}

// checkSession admits a request to the session it carries, or starts one.
// A request with a session this backend does not know is answered 409 with
// headers.Session: lost (and a new session); checkSession then returns false.
func (b *Backend) checkSession(w http.ResponseWriter, r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	b.mu.Lock()
	known := false
	if err == nil {
		_, known = b.sessions.live[c.Value]
	}
	var id string
	if !known {
		id = b.sessions.create()
		b.counts.sessionsCreated++
		if err == nil {
			b.counts.sessionsLost++
		}
	}
	b.mu.Unlock()
	if known {
		return true
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true})
	if err == nil {
		w.Header().Set(headers.Session, "lost")
		b.fail(w, "unknown session", http.StatusConflict)
		return false
	}
	return true
}
