package scenario

import (
	"errors"
	"fmt"
	"strings"
)

// ParseProxy reads a proxy's options written in YAML, the way a scenario's
// sut.proxy writes them, e.g. "{strategy: least-connections, retries: 2,
// health: {interval: 1s}}", fills their defaults and validates them. It is
// how the built-in proxy running alone in front of other backends
// (ilities proxy) is configured. An error's line and column are the
// text's own.
func ParseProxy(text string) (Proxy, error) {
	if strings.TrimSpace(text) == "" {
		text = "{}"
	}
	// The text starts on the document's second line, at column 10 of its
	// first: positions are moved back by as much.
	const head = "sut:\n  proxy: "
	doc := head + strings.ReplaceAll(text, "\n", "\n    ") + "\n  pools: [{backends: [{}]}]\nworkload: [{rate: 1/s}]\n"
	s, err := Parse("proxy spec", []byte(doc))
	if err != nil {
		var errs Errors
		if errors.As(err, &errs) {
			for i := range errs {
				e := &errs[i]
				switch {
				case e.Line == 2:
					e.Line, e.Column = 1, max(e.Column-len("  proxy: "), 1)
				case e.Line > 2:
					e.Line, e.Column = e.Line-1, max(e.Column-4, 1)
				}
			}
			return Proxy{}, errs
		}
		return Proxy{}, err
	}
	p := s.SUT.Proxy
	switch {
	case p.Kind != "" && p.Kind != ProxyBuiltin:
		return Proxy{}, fmt.Errorf("proxy spec: kind %q: this is the built-in proxy; run %s itself for that", p.Kind, p.Kind)
	case p.Replicas > 1:
		return Proxy{}, fmt.Errorf("proxy spec: replicas %d: one process is one replica; start several, each with its own --listen", p.Replicas)
	}
	return p, nil
}
