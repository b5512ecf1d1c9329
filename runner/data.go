package runner

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/ilities/ilities/scenario"
)

// dataSet is one data source at run time: its rows and the cursor that
// hands them out, shared by every workload that uses the source.
type dataSet struct {
	rows  [][]string
	order string
	stop  bool         // when_exhausted: stop
	next  atomic.Int64 // sequential and unique: the next row handed out
}

func newDataSets(sc *scenario.Scenario) []*dataSet {
	sets := make([]*dataSet, len(sc.Data))
	for i, d := range sc.Data {
		sets[i] = &dataSet{rows: d.Rows, order: d.Order, stop: d.WhenExhausted == scenario.ExhaustedStop}
	}
	return sets
}

// draw hands out a row: the next one, or for order random the one random
// (a uniform 64-bit number) picks. ok is false once a stopping source has
// handed out every row.
func (d *dataSet) draw(random uint64) (row []string, ok bool) {
	n := int64(len(d.rows))
	if n == 0 {
		return nil, false
	}
	if d.order == scenario.OrderRandom {
		return d.rows[random%uint64(n)], true
	}
	return d.at(d.next.Add(1) - 1)
}

// at is row i, wrapped or not there (false) past the last.
func (d *dataSet) at(i int64) (row []string, ok bool) {
	n := int64(len(d.rows))
	if i >= n {
		if d.stop || n == 0 {
			return nil, false
		}
		i %= n
	}
	return d.rows[i], true
}

// workloadData is what a workload with templates, data or response checks
// needs at run time; nil for a workload whose requests are sent as built.
type workloadData struct {
	sets []*dataSet // by index of scenario.Data
	uses []int      // the sources the workload draws from
	// firstUser[i] is the row of source i its first virtual user gets
	// with order unique: the users of the workloads before it that use the
	// source come first (shareDataSets).
	firstUser []int64
	vars      int // how many variables its steps extract
	seed      uint64
	arrivals  atomic.Int64 // open loop: arrivals numbered from 1
}

// newWorkloadData returns nil when no request of the workload needs it.
func newWorkloadData(sc *scenario.Scenario, spec scenario.Workload, requests []*request) *workloadData {
	dynamic := len(spec.Uses) > 0 || len(spec.Variables) > 0
	for _, r := range requests {
		dynamic = dynamic || r.tmpl != nil || r.checks != nil
		if r.checks != nil {
			r.checks.bind(spec.Variables)
		}
	}
	if !dynamic {
		return nil
	}
	return newRowCursors(sc, spec)
}

// newRowCursors is the data of a workload that draws from the sources it
// uses, with cursors of its own until shareRows shares them.
func newRowCursors(sc *scenario.Scenario, spec scenario.Workload) *workloadData {
	d := &workloadData{sets: newDataSets(sc), vars: len(spec.Variables), seed: uint64(sc.Seed), firstUser: make([]int64, len(sc.Data))}
	for _, name := range spec.Uses {
		for i := range sc.Data {
			if sc.Data[i].Name == name && !slices.Contains(d.uses, i) {
				d.uses = append(d.uses, i)
			}
		}
	}
	return d
}

// shareDataSets gives every workload the same cursors (shareRows).
func shareDataSets(workloads []*workloadRun) {
	data, users := make([]*workloadData, len(workloads)), make([]int, len(workloads))
	for i, w := range workloads {
		data[i], users[i] = w.data, w.maxUsers
	}
	shareRows(data, users)
}

// shareRows gives every workload's data (nil: none) the same cursors, so
// that sequential and unique rows are handed out once per run, not once
// per workload, and numbers the unique rows of closed workloads' users
// (maxUsers: each workload's peak users, 0 for an open one).
func shareRows(data []*workloadData, maxUsers []int) {
	var shared []*dataSet
	var usersBefore []int64
	for w, d := range data {
		if d == nil {
			continue
		}
		if shared == nil {
			shared = d.sets
			usersBefore = make([]int64, len(shared))
		}
		d.sets = shared
		for _, i := range d.uses {
			d.firstUser[i] = usersBefore[i]
			usersBefore[i] += int64(maxUsers[w])
		}
	}
}

// DataCursors hand out a run's test data rows as Run does, without
// rendering anything: the sources' shared cursors, a row of each source a
// workload uses per open-loop arrival and per virtual user's iteration. A
// simulation of the run that draws with them counts rows as Run counts
// them, so a source with when_exhausted: stop runs out at the same arrival
// or iteration. Used from one goroutine.
type DataCursors struct {
	seed      int64
	workloads []*workloadData // by workload; nil for one that uses no source
	arrivals  []*userData     // each open workload's last arrival's rows
}

// NewDataCursors returns the cursors of sc's data sources (defaults
// applied), for a run of its duration.
func NewDataCursors(sc *scenario.Scenario) *DataCursors {
	n := len(sc.Workload)
	d := &DataCursors{seed: sc.Seed, workloads: make([]*workloadData, n), arrivals: make([]*userData, n)}
	users := make([]int, n)
	for i, spec := range sc.Workload {
		if len(spec.Uses) == 0 {
			continue
		}
		d.workloads[i] = newRowCursors(sc, spec)
		d.arrivals[i] = d.workloads[i].newUser(0, nil)
		if spec.Closed() {
			users[i] = spec.MaxUsers(sc.Duration.D())
		}
	}
	shareRows(d.workloads, users)
	return d
}

// NextArrival draws the rows of workload w's next open-loop arrival, as a
// worker does before it sends it; false when a source with
// when_exhausted: stop has run out: the arrival is not sent
// (FateExhausted).
func (d *DataCursors) NextArrival(w int) bool {
	if d.workloads[w] == nil {
		return true
	}
	return d.workloads[w].nextArrival(d.arrivals[w], w)
}

// DataUser is one virtual user's place in the data: its number and its
// random source, as Run gives them.
type DataUser struct {
	data *workloadData
	user *userData
}

// User is virtual user u (0-based) of closed workload w; nil when the
// workload uses no source.
func (d *DataCursors) User(w, u int) *DataUser {
	if d.workloads[w] == nil {
		return nil
	}
	return &DataUser{d.workloads[w], d.workloads[w].newUser(int64(u+1), templateRNG(d.seed, w, u))}
}

// NextIteration draws the rows of the user's next iteration; false when a
// source with when_exhausted: stop has run out: the user stops, as Run's
// does. A nil DataUser draws nothing and never runs out.
func (u *DataUser) NextIteration() bool {
	return u == nil || u.data.nextIteration(u.user)
}

// userData is what one virtual user (or open-loop worker) renders
// templates from: its current rows, its variables, its numbers and its
// random source, and the buffers its requests are rendered into.
type userData struct {
	rows      [][]string // by index of scenario.Data; nil until drawn
	vars      []string   // by slot of scenario.Workload.Variables
	userID    int64      // from 1; 0 in an open workload
	iteration int64
	rng       *rand.Rand

	head    []byte // the rendered request line and fields
	path    []byte // the rendered path
	body    []byte // the rendered body
	text    []byte // one value before it is escaped
	scratch request
	wire    [][]byte
	std     []*http.Request
}

// templateRNG is the random source of a virtual user's or worker's
// templates and random rows, apart from its think times so that adding a
// template changes none of them.
func templateRNG(seed int64, workload, user int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^0x7e3a1a7e, splitmix64(uint64(workload)<<32|uint64(user))))
}

func (d *workloadData) newUser(userID int64, rng *rand.Rand) *userData {
	return &userData{rows: make([][]string, len(d.sets)), vars: make([]string, d.vars), userID: userID, rng: rng}
}

// nextIteration starts a virtual user's iteration: a row of every source
// it uses. With order unique the row is the user's own, by its number, so
// that it is the same whichever segment (--segment) runs the user. false:
// a stopping source is exhausted, and the user stops.
func (d *workloadData) nextIteration(u *userData) bool {
	u.iteration++
	clear(u.vars)
	for _, i := range d.uses {
		set := d.sets[i]
		var row []string
		var ok bool
		if set.order == scenario.OrderUnique {
			row, ok = set.at(d.firstUser[i] + u.userID - 1)
		} else {
			row, ok = set.draw(u.rng.Uint64())
		}
		if !ok {
			return false
		}
		u.rows[i] = row
	}
	return true
}

// nextArrival numbers an open-loop arrival and draws its rows; a random
// row follows from the seed and the arrival's number alone. false: a
// stopping source is exhausted, and the arrival is not sent.
func (d *workloadData) nextArrival(u *userData, workload int) bool {
	u.iteration = d.arrivals.Add(1)
	for _, i := range d.uses {
		random := splitmix64(d.seed ^ splitmix64(uint64(u.iteration)<<8|uint64(workload)))
		row, ok := d.sets[i].draw(random)
		if !ok {
			return false
		}
		u.rows[i] = row
	}
	return true
}
