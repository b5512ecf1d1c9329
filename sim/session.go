package sim

// session is what a client keeps from one answer to the next within a
// session (a closed-loop user's iteration, whose cookie jar the live client
// starts afresh): the cookies the proxy and the backends set. The load
// opens and ends sessions; the proxy and the stations read and set their
// own cookies in them, as the live ones do through the client's jar.
type session struct {
	// proxyCookie is the upstream a sticky strategy's cookie names, as the
	// policy wrote it (e.g. the cookie strategy's value); "" when none.
	proxyCookie string
	// backend is the station whose server-side session the client holds,
	// -1 when none (no cookie from a backend yet); backendGen the station's
	// sessions' generation then (a crash forgets them: sim/station.go).
	backend    int32
	backendGen uint32
}

// newSession is a session with no cookie yet.
func newSession() session { return session{backend: -1} }
