package admission

import (
	"hash/maphash"
	"sync"
	"time"
)

// forgetAfter is how long a client's bucket is kept without a request.
const forgetAfter = time.Minute

// RateLimit is a token bucket per client: Rate requests per second on
// average, bursts of Burst.
type RateLimit struct {
	Rate  float64
	Burst int // default: Rate, at least 1
}

// WithDefaults returns r with its defaults filled in when it is on.
func (r RateLimit) WithDefaults() RateLimit {
	if r.Rate > 0 && r.Burst <= 0 {
		r.Burst = max(int(r.Rate), 1)
	}
	return r
}

// RateLimiter applies a RateLimit to each client apart, named by a key
// (the proxy's: the client's IP). It is safe for concurrent use: the
// buckets are sharded, each shard under its own lock, to keep contention
// low. A bucket idle for more than a minute is forgotten: the client starts
// again with a full one.
type RateLimiter struct {
	rate, burst float64
	seed        maphash.Seed
	shards      [32]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a limiter applying r, with its defaults, to each
// client. r.Rate is above 0: a rate limit that is off needs no limiter.
func NewRateLimiter(r RateLimit) *RateLimiter {
	r = r.WithDefaults()
	l := &RateLimiter{rate: r.Rate, burst: float64(r.Burst), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

// Allow takes one token of key's bucket at now; false means the client is
// over its rate, and retryAfter is then how long until a token is back.
func (l *RateLimiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > forgetAfter {
		for k, b := range s.buckets {
			if now.Sub(b.last) > forgetAfter {
				delete(s.buckets, k)
			}
		}
		s.swept = now
	}
	b := s.buckets[key]
	switch {
	case b == nil:
		b = &bucket{tokens: l.burst, last: now}
		s.buckets[key] = b
	case now.Sub(b.last) > forgetAfter:
		// Forgotten whether or not its shard was swept yet, so the answer
		// does not hang on which shard the key hashed to.
		*b = bucket{tokens: l.burst, last: now}
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
