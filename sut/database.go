package sut

import (
	"slices"
	"sync"
	"time"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/balancer"
)

// database is a database pool's cluster as its callers see it: which node
// is the primary, which nodes are down. Its nodes tell it when they go down
// and come back (backend.Config.Watch: a crash, a hang, a flap), so this is
// the one place that knows. Writes go to the primary and fail while it is
// down; reads go to the replicas that are up (the primary too with
// reads_from_primary, or when no replica is). A primary down for the
// promotion time is replaced by the first replica up, in the pool's order;
// it comes back as a replica (no failback). Promotion 0: no replica is
// promotable, and writes fail until the primary is back.
type database struct {
	promotion        time.Duration
	readsFromPrimary bool

	mu      sync.Mutex
	order   []string // its nodes, in the pool's order
	primary string
	down    map[string]bool
	// gen counts the primary's falls, so that the promotion timer of an
	// earlier one does nothing; due is set when the primary has been down
	// for the promotion time and no replica was up to take over.
	gen    int
	timer  *time.Timer
	due    bool
	counts map[string]*dbCounts
}

// dbCounts are a node's calls: reads and writes sent to it (and the writes
// refused while it was a primary down), the writes that failed, refused
// ones included, and its promotions.
type dbCounts struct{ reads, writes, writesFailed, promotions int64 }

func newDatabase(p scenario.Pool) *database {
	return &database{
		promotion:        p.Database.Promotion.D(),
		readsFromPrimary: p.Database.ReadsFromPrimary,
		primary:          p.PrimaryName(),
		down:             map[string]bool{},
		counts:           map[string]*dbCounts{},
	}
}

func (d *database) add(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.order = append(d.order, node)
	d.count(node)
	if d.due {
		d.promote()
	}
}

// remove takes node out of the cluster for good: a primary removed goes
// down, and is replaced after the promotion time.
func (d *database) remove(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.order = slices.DeleteFunc(d.order, func(n string) bool { return n == node })
	d.set(node, false)
}

// watch is the Watch of node's backend.
func (d *database) watch(node string) func(up bool) {
	return func(up bool) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.set(node, up)
	}
}

// set records that node went down or came back. Called with d.mu held.
func (d *database) set(node string, up bool) {
	d.down[node] = !up
	switch {
	case node == d.primary && !up:
		d.gen++
		d.due = false
		if d.promotion > 0 {
			gen := d.gen
			d.timer = time.AfterFunc(d.promotion, func() { d.promoteAfter(gen) })
		}
	case node == d.primary:
		if d.timer != nil {
			d.timer.Stop()
			d.timer = nil
		}
		d.gen++ // a timer that fired meanwhile does nothing
		d.due = false
	case up && d.due:
		d.promote()
	}
}

// promoteAfter is the promotion timer of the primary's fall gen.
func (d *database) promoteAfter(gen int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if gen != d.gen {
		return
	}
	d.timer = nil
	d.due = true
	d.promote()
}

// promote makes the first replica up the primary, if there is one. Called
// with d.mu held.
func (d *database) promote() {
	for _, n := range d.order {
		if n != d.primary && !d.down[n] {
			d.primary, d.due = n, false
			d.count(n).promotions++
			return
		}
	}
}

// writer is the node a write goes to; false while the primary is down (the
// write fails, counted as a write of the primary that failed).
func (d *database) writer() (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down[d.primary] {
		c := d.count(d.primary)
		c.writes++
		c.writesFailed++
		return d.primary, false
	}
	return d.primary, true
}

// readers are the members of ups a read may go to now.
func (d *database) readers(ups []*balancer.Upstream) []*balancer.Upstream {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*balancer.Upstream, 0, len(ups))
	for _, u := range ups {
		if u.Name != d.primary && !d.down[u.Name] {
			out = append(out, u)
		}
	}
	if len(out) > 0 && !d.readsFromPrimary {
		return out
	}
	for _, u := range ups {
		if u.Name == d.primary && !d.down[u.Name] {
			return append(out, u)
		}
	}
	return out
}

// count returns node's counts, made on first use. Called with d.mu held.
func (d *database) count(node string) *dbCounts {
	c := d.counts[node]
	if c == nil {
		c = &dbCounts{}
		d.counts[node] = c
	}
	return c
}

// answered counts a call sent to node.
func (d *database) answered(node string, write, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.count(node)
	switch {
	case !write:
		c.reads++
	case ok:
		c.writes++
	default:
		c.writes++
		c.writesFailed++
	}
}

// node returns node's counts, and whether it is the primary now.
func (d *database) node(name string) (dbCounts, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.count(name), d.primary == name
}

func (d *database) resetStats() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.counts)
}

func (d *database) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.gen++
}
