package scenario

import (
	"fmt"
	"strconv"
	"strings"
)

// Label is the request's name in the results and in requirements: its
// name, or its method and path as written ("GET /products/{{products.id}}"), so
// that every path a template renders stays one row.
func (r Request) Label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Method + " " + r.Path
}

// Sent is what the workload sends: its session steps, or else its request
// mix (the engine's choice too).
func (w Workload) Sent() []Request {
	if len(w.Session) > 0 {
		return w.Session
	}
	return w.Requests
}

// RequestNames are the labels of what the workload sends, in order, then
// those of its WebSocket requests' messages (WebSocketLabel).
func (w Workload) RequestNames() []string {
	sent := w.Sent()
	names := make([]string, len(sent), len(sent)+1)
	for i, r := range sent {
		names[i] = r.Label()
	}
	for _, r := range sent {
		if r.WebSocket != nil {
			names = append(names, r.WebSocketLabel())
		}
	}
	return names
}

// requestNames checks that every request of a workload has a name of its
// own: each is one row of the results and one scope of requirements.
func (v *validator) requestNames(path string, w *Workload) {
	field := ".requests"
	if len(w.Session) > 0 {
		field = ".session"
	}
	first := map[string]int{}
	for i, r := range w.Sent() {
		name := r.Label()
		rpath := fmt.Sprintf("%s%s[%d]", path, field, i)
		if r.Name != "" {
			rpath += ".name"
		}
		j, dup := first[name]
		if !dup {
			first[name] = i
			continue
		}
		how := "name"
		if r.Name == "" {
			how = "default name (method and path)"
		}
		v.addf(rpath, "request %q has the same %s as %s%s[%d]; each request of a workload needs a name of its own: give one a name: such as %q",
			name, how, path, field, j, name+" ("+strconv.Itoa(i+1)+")")
	}
	for i, r := range w.Sent() {
		if r.WebSocket == nil {
			continue
		}
		if j, dup := first[r.WebSocketLabel()]; dup {
			v.addf(fmt.Sprintf("%s%s[%d].websocket", path, field, i), "the messages of this websocket request are recorded as %q, the name of %s%s[%d]; rename one",
				r.WebSocketLabel(), path, field, j)
		}
	}
}

// requestScope checks the quoted scope of a requirement ("for \"POST
// /cart\"") against the request names of the workloads: exactly one
// workload must send a request of that name.
func (v *validator) requestScope(path string, s *Scenario, name string) {
	var in, all []string
	for _, w := range s.Workload {
		for _, n := range w.RequestNames() {
			if n == name {
				in = append(in, w.Name)
			}
			all = append(all, strconv.Quote(n))
		}
	}
	switch {
	case len(in) == 1:
	case len(in) > 1:
		v.addf(path, "request %q after \"for\" is sent by workloads %s; give it a name of its own (name:) in the one to require", name, strings.Join(in, " and "))
	default:
		msg := fmt.Sprintf("unknown request %q after \"for\"; requests: %s", name, strings.Join(all, ", "))
		if c := closest(strconv.Quote(name), all); c != "" {
			msg = fmt.Sprintf("unknown request %q after \"for\" (did you mean %s?); requests: %s", name, c, strings.Join(all, ", "))
		}
		v.add(path, msg)
	}
}
