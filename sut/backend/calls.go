package backend

import (
	"context"
	"maps"
	"math"
	randv2 "math/rand/v2"
	"time"
)

// Downstream is a tier below a backend: what it calls for the requests it
// serves. Package sut builds one per calling backend and called pool (its
// balancing, connections and database rules); the backend knows nothing of
// them.
type Downstream interface {
	// Call makes one call and waits for its answer. ok is false when it
	// failed (refused, no answer before ctx ended, a 5xx); failedTier then
	// names the pool where the failure started.
	Call(ctx context.Context, write bool) (failedTier string, ok bool)
}

// Call is one kind of call a backend makes for each request it serves.
type Call struct {
	To Downstream
	// Times is how many calls, one after the other; below 1 means 1.
	Times int
	// Probability is the chance that a request makes these calls at all.
	Probability float64
	// Writes is the share of the calls that write (to a database).
	Writes float64
	// Timeout bounds each call; 0: only the backend's life does.
	Timeout time.Duration
}

// holding is a calling job's until (and free) while its calls run: later
// than any station time, so that no other job takes its slot's free time.
const holding = math.MaxInt64

// planCalls decides, when j's service begins, whether it makes the calls:
// a cache draws its hit here, in slot order, from the station's stream, and
// gives the job a stream of its own for its calls' draws, so that the
// draws of one request do not depend on when the others' calls end.
// Called with b.mu held.
func (b *Backend) planCalls(j *job) {
	if len(b.cfg.Calls) == 0 {
		return
	}
	j.draws = *randv2.NewPCG(b.callRNG.Uint64(), b.callRNG.Uint64())
	j.hit = b.cfg.Cache && uniform(&j.draws) < b.cfg.HitRatio
	j.calling = !j.hit
	if j.calling {
		j.until = holding
	}
}

// call makes j's calls, in order, once its service ended; its slot stays
// held until they end, when its until and free are stamped. ok is false
// when a call failed (the rest are not made) or life ended (a crash).
func (b *Backend) call(j *job, life context.Context) (failedTier string, ok bool) {
	if !j.calling {
		return "", true
	}
	ok = true
calls:
	for _, c := range b.cfg.Calls {
		if c.Probability < 1 && uniform(&j.draws) >= c.Probability {
			continue
		}
		for range max(c.Times, 1) {
			write := c.Writes > 0 && uniform(&j.draws) < c.Writes
			if failedTier, ok = b.callOnce(life, c, write); !ok {
				break calls
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if j.gen != b.gen {
		return "", false // a crash ended it and accounted for its time
	}
	j.until = b.now()
	j.free = j.until
	if !ok && life.Err() == nil {
		if b.callFailures == nil {
			b.callFailures = map[string]int64{}
		}
		b.callFailures[failedTier]++
	}
	return failedTier, ok
}

func (b *Backend) callOnce(life context.Context, c Call, write bool) (string, bool) {
	ctx := life
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(life, c.Timeout)
		defer cancel()
	}
	return c.To.Call(ctx, write)
}

// failures is Stats.Failures. Called with b.mu held.
func (b *Backend) failures() map[string]int64 {
	c := b.counts
	own := c.rejected + c.starting + c.injectedErrors + c.resets + c.truncated
	if own == 0 && len(b.callFailures) == 0 {
		return nil
	}
	out := maps.Clone(b.callFailures)
	if out == nil {
		out = map[string]int64{}
	}
	if own > 0 {
		out[b.cfg.Pool] += own
	}
	return out
}

// tell tells Config.Watch when the backend went down or came back: crashed,
// or hanging, is down.
func (b *Backend) tell() {
	if b.cfg.Watch == nil {
		return
	}
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	b.mu.Lock()
	up := !b.down && b.hangLift == nil
	b.mu.Unlock()
	if up != b.toldUp {
		b.toldUp = up
		b.cfg.Watch(up)
	}
}

// uniform is a draw in [0, 1) from a request's own stream.
func uniform(p *randv2.PCG) float64 { return float64(p.Uint64()>>11) / (1 << 53) }
