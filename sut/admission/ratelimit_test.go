package admission_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/sut/admission"
)

// t0 is the instant every test's clock starts from: the Unix epoch, as a
// simulation's virtual clock may.
var t0 = time.Unix(0, 0)

func TestRateLimiter(t *testing.T) {
	// ask is times requests of key at an instant, each but the last let
	// through; the last must get ok and retryAfter.
	type ask struct {
		key        string
		at         time.Duration
		times      int
		ok         bool
		retryAfter time.Duration
	}
	for _, tc := range []struct {
		name  string
		limit admission.RateLimit
		asks  []ask
	}{
		{"a burst, then the rate", admission.RateLimit{Rate: 2, Burst: 2}, []ask{
			{"a", 0, 2, true, 0},
			{"a", 0, 1, false, 500 * time.Millisecond},
			{"a", 250 * time.Millisecond, 1, false, 250 * time.Millisecond},
			{"a", 500 * time.Millisecond, 1, true, 0},
			{"a", 500 * time.Millisecond, 1, false, 500 * time.Millisecond},
			{"a", 1500 * time.Millisecond, 2, true, 0},
			{"a", 1500 * time.Millisecond, 1, false, 500 * time.Millisecond},
		}},
		{"refill stops at the burst", admission.RateLimit{Rate: 10, Burst: 3}, []ask{
			{"a", 0, 3, true, 0},
			{"a", 10 * time.Second, 3, true, 0},
			{"a", 10 * time.Second, 1, false, 100 * time.Millisecond},
		}},
		{"each client its own bucket", admission.RateLimit{Rate: 1, Burst: 1}, []ask{
			{"a", 0, 1, true, 0},
			{"a", 0, 1, false, time.Second},
			{"b", 0, 1, true, 0},
			{"b", 0, 1, false, time.Second},
			{"a", time.Second, 1, true, 0},
		}},
		{"burst defaults to the rate", admission.RateLimit{Rate: 4}, []ask{
			{"a", 0, 4, true, 0},
			{"a", 0, 1, false, 250 * time.Millisecond},
		}},
		{"a slow rate's burst at least one", admission.RateLimit{Rate: 0.5}, []ask{
			{"a", 0, 1, true, 0},
			{"a", 0, 1, false, 2 * time.Second},
			{"a", time.Second, 1, false, time.Second},
		}},
		{"idle a minute: refilled at the rate", admission.RateLimit{Rate: 0.25, Burst: 20}, []ask{
			{"a", 0, 20, true, 0},
			{"a", 2 * time.Second, 1, false, 2 * time.Second}, // 0.5 tokens
			{"a", 62 * time.Second, 15, true, 0},              // 0.5 + 60 s × 0.25
			{"a", 62 * time.Second, 1, false, 2 * time.Second},
		}},
		{"idle over a minute: forgotten, a full burst", admission.RateLimit{Rate: 0.25, Burst: 20}, []ask{
			{"a", 0, 20, true, 0},
			{"a", 2 * time.Second, 1, false, 2 * time.Second},
			{"a", 62*time.Second + time.Millisecond, 20, true, 0},
			{"a", 62*time.Second + time.Millisecond, 1, false, 4 * time.Second},
		}},
		{"forgotten whatever its shard's sweeps", admission.RateLimit{Rate: 0.25, Burst: 20}, func() []ask {
			// Other clients sweep every shard at 0 s and again at 61 s,
			// while a, idle since 50 s, is not a minute idle yet; at 112 s
			// it is, though its shard was swept less than a minute before.
			others := func(at time.Duration) []ask {
				asks := make([]ask, 500)
				for i := range asks {
					asks[i] = ask{fmt.Sprint("client-", i), at, 1, true, 0}
				}
				return asks
			}
			asks := others(0)
			asks = append(asks, ask{"a", 50 * time.Second, 20, true, 0})
			asks = append(asks, others(61*time.Second)...)
			return append(asks, ask{"a", 112 * time.Second, 20, true, 0}, ask{"a", 112 * time.Second, 1, false, 4 * time.Second})
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := admission.NewRateLimiter(tc.limit)
			for i, a := range tc.asks {
				for n := range a.times - 1 {
					if ok, wait := l.Allow(a.key, t0.Add(a.at)); !ok {
						t.Fatalf("ask %d (%s at %v), request %d of %d: refused, retry after %v", i+1, a.key, a.at, n+1, a.times, wait)
					}
				}
				if ok, wait := l.Allow(a.key, t0.Add(a.at)); ok != a.ok || wait != a.retryAfter {
					t.Fatalf("ask %d (%s at %v), request %d: ok %v, retry after %v; want %v, %v", i+1, a.key, a.at, a.times, ok, wait, a.ok, a.retryAfter)
				}
			}
		})
	}
}

// TestRateLimiterConcurrentClients: clients calling at once each get their
// own burst, no more, no less.
func TestRateLimiterConcurrentClients(t *testing.T) {
	const clients, burst = 64, 10
	l := admission.NewRateLimiter(admission.RateLimit{Rate: 1, Burst: burst})
	allowed := make([]int, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for range 3 * burst {
				if ok, _ := l.Allow(fmt.Sprint("client-", c), t0); ok {
					allowed[c]++
				}
			}
		})
	}
	wg.Wait()
	for c, n := range allowed {
		if n != burst {
			t.Fatalf("client %d let through %d, want %d", c, n, burst)
		}
	}
}
