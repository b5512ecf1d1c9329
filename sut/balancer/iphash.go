package balancer

func init() {
	Register("ip-hash", func(Options) Policy { return IPHash{} })
}

// IPHash sends every request of a client IP to the same upstream, chosen by
// weighted rendezvous hashing of the IP: when an upstream becomes
// unavailable only its clients move, and they come back when it returns.
type IPHash struct{}

// Select implements Policy.
func (IPHash) Select(pool []*Upstream, req *Request) *Upstream {
	var ip string
	if req != nil {
		ip = req.ClientIP
	}
	return rendezvous(pool, hash64(ip), nil)
}
