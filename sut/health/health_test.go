package health_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/sut/health"
)

// t0 is the instant every test's clock starts from: the Unix epoch, as a
// simulation's virtual clock may.
var t0 = time.Unix(0, 0)

func at(d time.Duration) time.Time { return t0.Add(d) }

// published is what a call reported: "" when nothing changed, else "up: "
// or "down: " and the reason.
func published(c health.Change, changed bool) string {
	switch {
	case !changed:
		return ""
	case c.Available:
		return "up: " + c.Reason
	default:
		return "down: " + c.Reason
	}
}

func TestRiseAndFall(t *testing.T) {
	// p: a passed check, f: a failed one; want: what each publishes.
	for _, tc := range []struct {
		name       string
		rise, fall int
		checks     string
		want       []string
	}{
		{"fall failures in a row take it out", 2, 3, "fff", []string{"", "", "down: active check: 3 failed (refused)"}},
		{"a pass resets the failures", 2, 3, "ffpfff", []string{"", "", "", "", "", "down: active check: 3 failed (refused)"}},
		{"rise passes in a row bring it back", 2, 1, "fpp", []string{"down: active check: 1 failed (refused)", "", "up: active check: 2 passed"}},
		{"a failure resets the passes", 3, 1, "fppfppp", []string{"down: active check: 1 failed (refused)", "", "", "", "", "", "up: active check: 3 passed"}},
		{"passes while up publish nothing", 2, 2, "ppppf", []string{"", "", "", "", ""}},
		{"failures while down publish nothing", 1, 1, "fffp", []string{"down: active check: 1 failed (refused)", "", "", "up: active check: 1 passed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := health.NewUpstream(health.Rules{Rise: tc.rise, Fall: tc.fall})
			if got := published(u.Publish(health.ReasonStart, t0)); got != "up: start" {
				t.Fatalf("first publication %q, want up: start", got)
			}
			for i, r := range tc.checks {
				got := published(u.Check(r == 'p', "refused", at(time.Duration(i)*time.Second)))
				if got != tc.want[i] {
					t.Fatalf("check %d (%c): published %q, want %q", i+1, r, got, tc.want[i])
				}
			}
			if down := strings.HasPrefix(tc.want[len(tc.want)-1], "down"); u.ActiveDown() != down {
				t.Fatalf("ActiveDown %v at the end, want %v", u.ActiveDown(), down)
			}
		})
	}
}

func TestExchangeCountsFailuresInARow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int
		results   string // f: failed, s: succeeded
		failures  []int64
		eject     []bool
	}{
		{"threshold reached", 3, "fff", []int64{1, 2, 3}, []bool{false, false, true}},
		{"a success resets the count", 3, "ffsfff", []int64{1, 2, 0, 1, 2, 3}, []bool{false, false, false, false, false, true}},
		{"past the threshold still asks", 2, "fff", []int64{1, 2, 3}, []bool{false, true, true}},
		{"off without a threshold", 0, "fffff", []int64{0, 0, 0, 0, 0}, []bool{false, false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := health.NewUpstream(health.Rules{Passive: health.Passive{ConsecutiveFailures: tc.threshold}.WithDefaults()})
			for i, r := range tc.results {
				n, eject := u.Exchange(r == 'f')
				if n != tc.failures[i] || eject != tc.eject[i] {
					t.Fatalf("result %d (%c): %d failures, eject %v; want %d, %v", i+1, r, n, eject, tc.failures[i], tc.eject[i])
				}
			}
		})
	}
}

func TestExchangeAfterEjection(t *testing.T) {
	u := health.NewUpstream(health.Rules{Passive: health.Passive{ConsecutiveFailures: 2}.WithDefaults()})
	u.Publish(health.ReasonStart, t0)
	u.Exchange(true)
	n, _ := u.Exchange(true)
	if ejected, _, _ := u.Eject(n, health.Pool{Members: 1}, t0); !ejected {
		t.Fatal("not ejected")
	}
	// Exchanges in flight at the ejection still fail: counted, but an
	// ejected upstream is not ejected again.
	for i := range 3 {
		if _, eject := u.Exchange(true); eject {
			t.Fatalf("failure %d after the ejection asks to eject an ejected upstream", i+1)
		}
	}
	// The ejection started the count afresh.
	if n, _ := u.Exchange(true); n != 4 {
		t.Fatalf("%d failures in a row counted after the ejection, want 4", n)
	}
}

func TestEjectionBackoff(t *testing.T) {
	// EjectFor 1s, MaxEjectFor 10s: an ejection within MaxEjectFor plus
	// the last ejection's length of the last one lasts twice as long, up
	// to 10s; one after longer than that lasts 1s again.
	type step struct {
		at   time.Duration
		want time.Duration // the ejection's length
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"doubles on ejections in a row, up to the maximum", []step{
			{0, time.Second}, {2 * time.Second, 2 * time.Second}, {5 * time.Second, 4 * time.Second},
			{10 * time.Second, 8 * time.Second}, {19 * time.Second, 10 * time.Second}, {30 * time.Second, 10 * time.Second},
		}},
		{"back to the first length after a quiet spell", []step{
			{0, time.Second}, {2 * time.Second, 2 * time.Second},
			// Quiet for MaxEjectFor + 2s (the last length) after the last.
			{14 * time.Second, time.Second},
		}},
		{"just inside the window still doubles", []step{
			{0, time.Second}, {11*time.Second - time.Nanosecond, 2 * time.Second},
		}},
		{"at the window's end it does not", []step{
			{0, time.Second}, {11 * time.Second, time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := health.NewUpstream(health.Rules{Passive: health.Passive{ConsecutiveFailures: 1, EjectFor: time.Second}.WithDefaults()})
			u.Publish(health.ReasonStart, t0)
			for i, s := range tc.steps {
				now := at(s.at)
				if i > 0 {
					// The previous ejection ends on time.
					last := at(tc.steps[i-1].at + tc.steps[i-1].want)
					if !now.Before(last) {
						if got := published(u.Expire(last)); got != "up: ejection ended" {
							t.Fatalf("ejection %d ending at %v published %q", i, last.Sub(t0), got)
						}
					}
				}
				n, _ := u.Exchange(true)
				ejected, c, changed := u.Eject(n, health.Pool{Members: 1}, now)
				if !ejected {
					t.Fatalf("ejection %d at %v refused", i+1, s.at)
				}
				want := "down: passive: 1 consecutive failures, ejected for " + s.want.String()
				if got := published(c, changed); got != want {
					t.Fatalf("ejection %d at %v published %q, want %q", i+1, s.at, got, want)
				}
				if got := u.EjectedUntil(); !got.Equal(now.Add(s.want)) {
					t.Fatalf("ejection %d at %v ends at %v, want %v", i+1, s.at, got.Sub(t0), s.at+s.want)
				}
			}
		})
	}
}

func TestExpire(t *testing.T) {
	u := health.NewUpstream(health.Rules{Passive: health.Passive{ConsecutiveFailures: 1, EjectFor: time.Second}.WithDefaults()})
	u.Publish(health.ReasonStart, t0)
	if ejected, _, _ := u.Eject(1, health.Pool{Members: 2}, t0); !ejected {
		t.Fatal("not ejected")
	}
	// An ejected upstream is not ejected again.
	if ejected, _, changed := u.Eject(1, health.Pool{Members: 2}, at(time.Millisecond)); ejected || changed {
		t.Fatal("ejected twice")
	}
	for _, tc := range []struct {
		at      time.Duration
		want    string
		ejected bool
	}{
		{999 * time.Millisecond, "", true},
		{time.Second, "up: ejection ended", false},
		{2 * time.Second, "", false},
	} {
		if got := published(u.Expire(at(tc.at))); got != tc.want || u.Ejected() != tc.ejected {
			t.Fatalf("Expire at %v: published %q, ejected %v; want %q, %v", tc.at, got, u.Ejected(), tc.want, tc.ejected)
		}
	}
	if !u.EjectedUntil().IsZero() {
		t.Fatalf("EjectedUntil %v after the ejection ended", u.EjectedUntil())
	}
}

func TestMaxEjectedShare(t *testing.T) {
	for _, tc := range []struct {
		percent          int
		members, ejected int
		want             bool
	}{
		{50, 2, 0, true},
		{50, 2, 1, false},
		{50, 4, 1, true},
		{50, 4, 2, false},
		{50, 1, 0, true}, // one may always be ejected
		{10, 3, 0, true}, // even past the share
		{10, 20, 1, true},
		{10, 20, 2, false},
		{100, 3, 2, true},
	} {
		p := health.Passive{ConsecutiveFailures: 1, MaxEjectedPercent: tc.percent}.WithDefaults()
		pool := health.Pool{Members: tc.members, Ejected: tc.ejected}
		if got := p.MayEject(pool); got != tc.want {
			t.Errorf("%d%% of %d with %d ejected: MayEject %v, want %v", tc.percent, tc.members, tc.ejected, got, tc.want)
		}
		u := health.NewUpstream(health.Rules{Passive: p})
		u.Publish(health.ReasonStart, t0)
		ejected, c, changed := u.Eject(5, pool, t0)
		if ejected != tc.want || changed != tc.want || u.Ejected() != tc.want {
			t.Errorf("%d%% of %d with %d ejected: Eject %v (%q), want %v", tc.percent, tc.members, tc.ejected, ejected, published(c, changed), tc.want)
		}
	}
}

func TestPassiveDefaults(t *testing.T) {
	for _, tc := range []struct {
		in, want health.Passive
	}{
		{health.Passive{}, health.Passive{}},
		{health.Passive{ConsecutiveFailures: 3}, health.Passive{ConsecutiveFailures: 3, EjectFor: 5 * time.Second, MaxEjectFor: 50 * time.Second, MaxEjectedPercent: 50}},
		{health.Passive{ConsecutiveFailures: 3, EjectFor: time.Second}, health.Passive{ConsecutiveFailures: 3, EjectFor: time.Second, MaxEjectFor: 10 * time.Second, MaxEjectedPercent: 50}},
		{health.Passive{ConsecutiveFailures: 1, EjectFor: time.Second, MaxEjectFor: 3 * time.Second, MaxEjectedPercent: 20}, health.Passive{ConsecutiveFailures: 1, EjectFor: time.Second, MaxEjectFor: 3 * time.Second, MaxEjectedPercent: 20}},
	} {
		if got := tc.in.WithDefaults(); got != tc.want {
			t.Errorf("%+v with defaults: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// Availability is published once for each change, whichever reasons hold,
// with the reason of the call that changed it.
func TestAvailabilityPublishedOnlyOnChange(t *testing.T) {
	u := health.NewUpstream(health.Rules{Rise: 1, Fall: 1, Passive: health.Passive{ConsecutiveFailures: 1, EjectFor: time.Second}.WithDefaults()})
	for i, s := range []struct {
		do   func(now time.Time) (health.Change, bool)
		want string
	}{
		{func(now time.Time) (health.Change, bool) { return u.Publish(health.ReasonAdded, now) }, "up: added"},
		{func(now time.Time) (health.Change, bool) { return u.Publish(health.ReasonStart, now) }, ""},
		{func(now time.Time) (health.Change, bool) { return u.MarkDown(false, now) }, ""},
		{func(now time.Time) (health.Change, bool) { return u.MarkDown(true, now) }, "down: manual"},
		{func(now time.Time) (health.Change, bool) { return u.MarkDown(true, now) }, ""},
		// Failed by checks while down by hand: still down, nothing new.
		{func(now time.Time) (health.Change, bool) { return u.Check(false, "status 500", now) }, ""},
		{func(now time.Time) (health.Change, bool) { return u.MarkDown(false, now) }, ""},
		{func(now time.Time) (health.Change, bool) { return u.Check(true, "", now) }, "up: active check: 1 passed"},
		{func(now time.Time) (health.Change, bool) { return u.Check(true, "", now) }, ""},
		{func(now time.Time) (health.Change, bool) {
			_, c, changed := u.Eject(1, health.Pool{Members: 1}, now)
			return c, changed
		}, "down: passive: 1 consecutive failures, ejected for 1s"},
		{func(now time.Time) (health.Change, bool) { return u.MarkDown(true, now) }, ""},
		// The ejection ends while down by hand: nothing to publish.
		{func(now time.Time) (health.Change, bool) { return u.Expire(now.Add(time.Second)) }, ""},
		{func(now time.Time) (health.Change, bool) { return u.MarkDown(false, now) }, "up: manual"},
		{func(now time.Time) (health.Change, bool) { return u.Drain(now) }, "down: draining"},
		{func(now time.Time) (health.Change, bool) { return u.Drain(now) }, ""},
		// Draining is for good.
		{func(now time.Time) (health.Change, bool) { return u.Check(true, "", now) }, ""},
	} {
		if got := published(s.do(at(time.Duration(i) * time.Second))); got != s.want {
			t.Fatalf("step %d: published %q, want %q", i+1, got, s.want)
		}
	}
	if !u.Draining() {
		t.Fatal("not draining after Drain")
	}
}

// The first call publishes whatever the availability is: down too.
func TestFirstPublicationDown(t *testing.T) {
	u := health.NewUpstream(health.Rules{})
	if got := published(u.MarkDown(true, t0)); got != "down: manual" {
		t.Fatalf("first publication %q, want down: manual", got)
	}
	if got := published(u.Publish(health.ReasonStart, t0)); got != "" {
		t.Fatalf("second publication %q, want none", got)
	}
}

func TestSlowStart(t *testing.T) {
	const ramp = 10 * time.Second
	u := health.NewUpstream(health.Rules{Fall: 1, Rise: 1, SlowStart: ramp})
	if _, ok := u.WeightScale(t0); ok {
		t.Fatal("a slow start runs before the upstream was ever available")
	}
	// Available from t0 (an instant of 0 Unix nanoseconds): the ramp runs
	// from then.
	u.Publish(health.ReasonStart, t0)
	for _, tc := range []struct {
		at   time.Duration
		want int
		ok   bool
	}{
		{-time.Second, 100, true}, // a clock read before the start: not below 10%
		{0, 100, true},
		{time.Second, 190, true},
		{5 * time.Second, 550, true},
		{ramp - time.Millisecond, 999, true},
		{ramp, 1000, true},
		{ramp + time.Second, 0, false}, // over: the weight is left as it is
	} {
		got, ok := u.WeightScale(at(tc.at))
		if got != tc.want || ok != tc.ok {
			t.Fatalf("at %v: scale %d (%v), want %d (%v)", tc.at, got, ok, tc.want, tc.ok)
		}
	}
	// Going down does not start one; coming back does, from that instant.
	u.Check(false, "refused", at(20*time.Second))
	if _, ok := u.WeightScale(at(20 * time.Second)); ok {
		t.Fatal("a slow start began when the upstream went down")
	}
	u.Check(true, "", at(30*time.Second))
	if got, ok := u.WeightScale(at(35 * time.Second)); got != 550 || !ok {
		t.Fatalf("5s after coming back: scale %d (%v), want 550", got, ok)
	}
}

func TestNoSlowStartWithoutARamp(t *testing.T) {
	u := health.NewUpstream(health.Rules{})
	if c, changed := u.Publish(health.ReasonStart, t0); !changed || !c.Available {
		t.Fatalf("first publication %+v (%v)", c, changed)
	}
	if s, ok := u.WeightScale(t0); ok {
		t.Fatalf("scale %d without slow start", s)
	}
}

// A proxy feeds Exchange and reads Ejected, Draining and WeightScale from
// every request's goroutine while one goroutine at a time changes the
// state: no failure is lost, and (under -race) nothing races.
func TestExchangeAndReadsFromManyGoroutines(t *testing.T) {
	u := health.NewUpstream(health.Rules{Fall: 1, Rise: 1, SlowStart: time.Second, Passive: health.Passive{ConsecutiveFailures: 1 << 30}.WithDefaults()})
	u.Publish(health.ReasonStart, t0)
	const goroutines, each = 4, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				u.Exchange(true)
				_, _ = u.Ejected(), u.Draining()
				u.WeightScale(at(time.Duration(g*each+i) * time.Millisecond))
			}
		})
	}
	wg.Go(func() {
		for i := range each {
			u.Check(i%2 == 0, "refused", at(time.Duration(i)*time.Millisecond))
		}
		u.Drain(at(time.Second))
	})
	wg.Wait()
	if n, _ := u.Exchange(true); n != goroutines*each+1 {
		t.Fatalf("%d failures in a row counted, want %d", n, goroutines*each+1)
	}
}
