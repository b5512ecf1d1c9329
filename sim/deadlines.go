package sim

// deadlines lists requests in the order their deadlines fall (one timeout,
// counted from an instant that only grows: a workload's sends, the
// proxy's forwards), with one event at a time scheduled, for the oldest
// request still waiting for its answer: a timeout costs no event of its
// own, however many requests are in flight.
type deadlines struct {
	list  ring[deadline]
	armed bool
	event event // what is scheduled for the oldest deadline
}

type deadline struct {
	ref flightRef
	at  int64
}

// add lists flight id with its deadline at, none earlier than those
// listed, dropping from the head the requests that ended meanwhile.
func (s *sim) add(d *deadlines, id int32, at int64, ended func(*flight) bool) {
	for d.list.len() > 0 && s.ended(d.list.peek().ref, ended) {
		d.list.pop()
	}
	d.list.push(deadline{s.fs.ref(id), at})
	if !d.armed {
		d.armed = true
		s.cal.at(at, d.event)
	}
}

// due returns the oldest request past its deadline, removed from the list;
// false when none is, the event then scheduled for the next deadline, if
// any. The handler of d's event calls it until it returns false.
func (s *sim) due(d *deadlines, ended func(*flight) bool) (int32, bool) {
	d.armed = false
	for d.list.len() > 0 {
		dl := d.list.peek()
		switch {
		case s.ended(dl.ref, ended):
			d.list.pop()
		case dl.at > s.cal.now:
			d.armed = true
			s.cal.at(dl.at, d.event)
			return -1, false
		default:
			d.list.pop()
			return dl.ref.id, true
		}
	}
	return -1, false
}

// ended reports whether the request r names has ended as ended says (or
// is gone).
func (s *sim) ended(r flightRef, ended func(*flight) bool) bool {
	f := s.fs.live(r)
	return f == nil || ended(f)
}

// Whose deadline has passed: the client's, once it recorded the request;
// the proxy's, once it answered it.
func clientEnded(f *flight) bool { return f.clientDone }
func proxyEnded(f *flight) bool  { return f.proxyDone }
