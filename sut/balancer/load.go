package balancer

import (
	"bytes"
	"strconv"
)

// ParseLoad reads a backend's account of its load, as its load header
// carries it: "inflight=3;workers=8;queue=0" (any order, unknown keys
// ignored). The proxy and the callers between tiers read it alike.
func ParseLoad(v []byte) (Load, bool) {
	var l Load
	found := false
	for len(v) > 0 {
		var part []byte
		if i := bytes.IndexByte(v, ';'); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			part, v = v, nil
		}
		k, val, ok := bytes.Cut(bytes.Trim(part, " \t"), []byte("="))
		if !ok {
			continue
		}
		n, err := strconv.Atoi(string(val))
		if err != nil || n < 0 {
			continue
		}
		switch string(k) {
		case "inflight":
			l.Inflight, found = n, true
		case "workers":
			l.Workers, found = n, true
		case "queue":
			l.Queue, found = n, true
		}
	}
	return l, found
}
