package proxy

import (
	"hash/maphash"
	"sync"
	"time"
)

// rateLimiter is a token bucket per client IP, sharded to keep lock
// contention low. Buckets idle for a minute are forgotten.
type rateLimiter struct {
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

func newRateLimiter(rl RateLimit) *rateLimiter {
	l := &rateLimiter{rate: rl.Rate, burst: float64(rl.Burst), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

// allow takes one token of ip's bucket; false means the client is over its
// rate. retryAfter is then how long until a token is back.
func (l *rateLimiter) allow(ip string, now time.Time) (ok bool, retryAfter time.Duration) {
	s := &l.shards[maphash.String(l.seed, ip)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > time.Minute {
		for k, b := range s.buckets {
			if now.Sub(b.last) > time.Minute {
				delete(s.buckets, k)
			}
		}
		s.swept = now
	}
	b := s.buckets[ip]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		s.buckets[ip] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
