package sim

import (
	"time"

	"github.com/ilities/ilities/internal/timerheap"
)

// calendar is the simulation's clock and the events to come: virtual time
// in nanoseconds from the run's start, and the events ordered by time,
// equal times in the order they were scheduled, so that a run replays
// exactly. An event is a small value: what happens, and to which flight
// or workload.
type calendar struct {
	now    int64
	events timerheap.Heap[event]
}

type event struct {
	kind eventKind
	id   int32 // a flight, a workload (arrival, clientTimeout), a user (userReady), a worker slot (serviceEnd), a site…
}

type eventKind uint8

const (
	// The generator.
	arrival       eventKind = iota // the workload's next arrival is due
	clientAnswer                   // an answer reaches the client
	clientTimeout                  // the workload's oldest request may be past its timeout
	userReady                      // a closed-loop user's span begins, or its think time ends
	failover                       // a replica's refusal reaches the client, which tries the next
	// The proxy.
	atProxy           // a request reaches the proxy
	proxyAnswer       // an answer reaches the proxy from a backend
	proxyTimeout      // the proxy's oldest exchange may be past the proxy's timeout (id: the site)
	proxyQueueTimeout // the oldest request waiting at an admission gate may be past its queue timeout (id: the site)
	healthCheck       // an active check of an upstream is due (id: replica × upstreams + upstream)
	checkExpired      // an active check may be past its timeout (a flight)
	ejectionEnd       // an upstream's ejection may be over (as healthCheck)
	slowStartTick     // an upstream's slow start advances (as healthCheck)
	// The stations.
	atStation  // a request reaches its backend
	serviceEnd // a backend's worker ends a service
	// The tiers.
	callTimeout // the oldest call of a timeout may be past it (id: the calls' deadline list)
	promotion   // a database's replica may become its primary (id: the pool)
	// The fault timeline (id: the fault's index).
	faultFire  // a fault takes effect
	faultLift  // a fault is lifted
	flapToggle // a flapping backend crashes or restarts
	drainPoll  // a backend being removed may have drained
	// The DNS between sites.
	dnsCheck // the DNS balancer checks a site (id: the site)
)

// at schedules e at virtual time t (never before now).
func (c *calendar) at(t int64, e event) { c.events.Push(max(t, c.now), e) }

// after schedules e d from now.
func (c *calendar) after(d time.Duration, e event) { c.events.Push(c.now+int64(d), e) }

// next moves the clock to the earliest event and returns it; false when
// none is left.
func (c *calendar) next() (event, bool) {
	at, e, ok := c.events.Peek()
	if !ok {
		return e, false
	}
	c.events.Pop()
	c.now = at
	return e, true
}

// epoch is the virtual clock's origin as a time.Time, for the balancing
// policies that read Request.Now and Observation.At: a fixed instant, so
// that a run replays exactly whenever it is simulated.
var epoch = time.Date(2001, time.January, 1, 0, 0, 0, 0, time.UTC)

// wall is virtual time t as the policies' clock reads it.
func wall(t int64) time.Time { return epoch.Add(time.Duration(t)) }
