package balancer

import (
	"fmt"
	"math"
	"strings"
)

// hash64 is FNV-1a with a splitmix64 finaliser: stable across processes and
// versions (unlike maphash), and well mixed in every bit.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rendezvousScore is the weighted highest-random-weight score of upstream u
// for key hash kh: -weight / ln(uniform(kh, u)). The largest score wins;
// each upstream wins a share of keys proportional to its weight, and
// removing one moves only the keys it had. The configured weight is used,
// not the slow-start scaled one, so keys do not move while a node ramps up.
func rendezvousScore(kh uint64, u *Upstream) float64 {
	h := mix64(kh ^ hash64(u.Name))
	// 53 random bits in (0, 1).
	x := (float64(h>>11) + 0.5) / (1 << 53)
	return -float64(max(u.Weight, 1)) / math.Log(x)
}

// rendezvous returns the available upstream with the highest score for kh,
// skipping those refused by ok (nil accepts all).
func rendezvous(pool []*Upstream, kh uint64, ok func(*Upstream) bool) *Upstream {
	var (
		best  *Upstream
		score float64
	)
	for _, u := range pool {
		if !u.Available() || (ok != nil && !ok(u)) {
			continue
		}
		if s := rendezvousScore(kh, u); best == nil || s > score {
			best, score = u, s
		}
	}
	return best
}

// parseHashKey splits a hash key spec: "path", "header:NAME", "cookie:NAME".
func parseHashKey(spec string) (kind, name string, err error) {
	switch {
	case spec == "" || spec == "path":
		return "path", "", nil
	case strings.HasPrefix(spec, "header:") && len(spec) > len("header:"):
		return "header", spec[len("header:"):], nil
	case strings.HasPrefix(spec, "cookie:") && len(spec) > len("cookie:"):
		return "cookie", spec[len("cookie:"):], nil
	}
	return "", "", fmt.Errorf(`unknown hash key %q (expected "path", "header:NAME" or "cookie:NAME")`, spec)
}

// CookieValue returns the value of the cookie called name in the request's
// Cookie header, or "".
func CookieValue(h Headers, name string) string {
	if h == nil {
		return ""
	}
	c := h.Get("Cookie")
	for c != "" {
		var part string
		part, c, _ = strings.Cut(c, ";")
		part = strings.TrimSpace(part)
		if k, v, ok := strings.Cut(part, "="); ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
