package balancer

func init() {
	Register("cookie", func(o Options) Policy { return NewCookie(o.CookieName) })
}

// DefaultCookieName is the cookie strategy's default cookie.
const DefaultCookieName = "ilities_node"

// Cookie is sticky sessions with a proxy-inserted cookie: a request whose
// cookie names an available upstream of the pool goes there; any other
// request (no cookie, an unknown name, or an upstream that is down) is
// balanced by smooth weighted round-robin, and the proxy then sets the
// cookie to the new upstream, so the client stays there until it fails.
type Cookie struct {
	name     string
	fallback *WeightedRoundRobin
}

// NewCookie returns the policy using the cookie called name (default
// DefaultCookieName).
func NewCookie(name string) *Cookie {
	if name == "" {
		name = DefaultCookieName
	}
	return &Cookie{name: name, fallback: NewWeightedRoundRobin()}
}

// CookieName implements Sticky.
func (p *Cookie) CookieName() string { return p.name }

// Select implements Policy.
func (p *Cookie) Select(pool []*Upstream, req *Request) *Upstream {
	if req != nil {
		if v := CookieValue(req.Header, p.name); v != "" {
			for _, u := range pool {
				if u.Name == v && u.Available() {
					return u
				}
			}
		}
	}
	return p.fallback.Select(pool, req)
}
