package sim

// flight is one request on its way through the simulated system, from its
// send to the last event about it. Flights live in one slice and are
// reused, so that the steady state allocates nothing; a list that names a
// flight lazily (a timeout's) keeps its generation, so that it does not
// mistake a reused flight for its own.
type flight struct {
	workload, request int32
	// session indexes the load's sessions when the request belongs to one
	// (sim/session.go), -1 when it does not.
	session        int32
	intended, sent int64
	// user is the closed-loop user that sent it (sim.users), -1 for an
	// open-loop arrival; connected: it got one of its workload's
	// connections to its replica (false while it waits for one, or after
	// a refusal, until it gets one to the next replica), or a call one of
	// its caller's connections to the tier.
	user      int32
	connected bool
	// forwarded is when the proxy sent it on to its backend (station).
	forwarded int64
	station   int32 // -1 while the proxy has not picked one
	// replica is the proxy replica the client sends it to (its turn at
	// send: conns.go), of the site its client's DNS answer names;
	// replicasTried counts those that refused its connection (a crashed
	// replica). path is the one-way time from its client's region to that
	// site, on every hop between them (0 without sites:); resolver is its
	// client (-1 without sites:), siteFault the site-down fault on at its
	// site when it was sent (-1: none), whose lost requests it counts.
	replica       int32
	replicasTried int32
	path          int64
	resolver      int32
	siteFault     int32
	// tried are the upstreams (stations) its replica sent it to so far,
	// the last one current: a retry goes to another (sim/proxy.go).
	tried  [maxRetried + 1]int32
	ntried uint8
	// visit counts its exchanges with backends, and is stamped on the
	// events of each (exchangeEvent), so that an event of an exchange that
	// ended (a backend's late answer to a request retried elsewhere) is
	// told from the current one's.
	visit uint8
	// fail is how the exchange with the backend failed without an answer
	// (refused, reset); cut: the answer's body stopped short (the reset
	// and truncate faults); class is what the client saw of a request
	// that got no answer from the proxy (refused, reset).
	fail  failKind
	cut   bool
	class string
	// check: the flight is an active health check of its replica's
	// upstream, not a client's request (workload and request are -1).
	check bool
	// call: the flight is a call from a backend to a tier below it
	// (tiers.go; workload and request are -1): caller is the worker slot
	// that makes it and callerSeq that slot's service then, client the
	// caller's client of the pool called; write: a database write.
	// waitsConn: it waits for one of the client's connections (connected
	// once it has one).
	call, write, waitsConn bool
	caller, client         int32
	callerSeq              uint32
	// slot is the worker slot serving it now (sim.slotStation's index),
	// -1 when none does: a request whose answer nobody awaits any more
	// ends the calls its worker makes for it.
	slot int32
	// failedTier is the pool a failure of its answer started in (a call
	// that failed below its backend: the answer's X-Ilities-Failed-Tier),
	// -1 when none did.
	failedTier int32
	// waitsAtGate: it waits in its upstream's admission queue; serving and
	// held: its backend serves it, or holds it (a hang).
	waitsAtGate bool
	gateSince   int64
	// exchangeOver: the current exchange with a backend ended (answered,
	// or given up on); events of it that come after are stale.
	exchangeOver bool
	// sessionKnown and sessionLost: the backend knows the session the
	// request carries, or does not (409); newSession:
	// the backend started one (newSessionGen its generation), set in the
	// client's session when the answer reaches it.
	sessionKnown, sessionLost, newSession bool
	newSessionGen                         uint32
	// arrived, start and end are its times at the station: arrival,
	// service start and end.
	arrived, start, end int64
	// status is the station's answer, then the one the client gets;
	// loadInflight and loadQueue the station's load reported with it.
	status                  int32
	loadInflight, loadQueue int32
	// holds counts what may still touch the flight (its client until it
	// records it, each event scheduled for it, a waiting room it is in);
	// at 0 it is free for another request.
	holds int32
	gen   uint32
	// queued: in its station's waiting room; abandoned: it left the room
	// when the proxy gave up on it. proxyDone: the proxy answered the
	// client (the backend's answer, or its own); clientDone: the client
	// recorded it (its answer, or a timeout).
	queued, abandoned, proxyDone, clientDone bool
}

// flightRef names a flight in a list read lazily (the timeouts').
type flightRef struct {
	id  int32
	gen uint32
}

// flights holds every flight, in use or free.
type flights struct {
	all  []flight
	free []int32
}

// take returns a flight for a new request, held by its client.
func (fs *flights) take() int32 {
	var id int32
	if n := len(fs.free); n > 0 {
		id = fs.free[n-1]
		fs.free = fs.free[:n-1]
	} else {
		fs.all = append(fs.all, flight{})
		id = int32(len(fs.all) - 1)
	}
	f := &fs.all[id]
	*f = flight{gen: f.gen + 1, station: -1, replica: -1, session: -1, user: -1, caller: -1, client: -1, slot: -1, failedTier: -1, resolver: -1, siteFault: -1, holds: 1}
	if id >= 1<<visitShift {
		panic("sim: more requests in flight than the calendar's events can name")
	}
	return id
}

// release drops one hold on flight id, and frees it when none is left.
func (fs *flights) release(id int32) {
	f := &fs.all[id]
	if f.holds--; f.holds == 0 {
		fs.free = append(fs.free, id)
	}
}

// ref names flight id as it is now.
func (fs *flights) ref(id int32) flightRef { return flightRef{id, fs.all[id].gen} }

// live returns the flight ref names, or nil once it was freed and reused.
func (fs *flights) live(r flightRef) *flight {
	if f := &fs.all[r.id]; f.gen == r.gen && f.holds > 0 {
		return f
	}
	return nil
}
