package scenario

// places is where each value of a loaded scenario was written, kept so that
// a problem found after loading (a feature a command does not support) is
// placed as validation's are: at file:line:column, or named by the flag
// that set the value.
type places struct {
	at   map[string][2]int // YAML path -> line, column
	sets []Set             // the command line's values, as Parse put them in
}

// index keeps the positions of the parsed document's values.
func (p *parsed) index(sets []Set) *places {
	pl := &places{at: make(map[string][2]int, len(p.nodes)), sets: sets}
	for path, n := range p.nodes {
		line, col := nodePos(n)
		pl.at[path] = [2]int{line, col}
	}
	return pl
}

// ErrorAt is a problem with the value at path (a YAML path such as
// "sut.proxy.retries" or "workload[1].model") of a loaded scenario, placed
// as validation places its own: at the value, or at the nearest enclosing
// one the file writes (a value left to its default points at the mapping
// it is missing from), or named by the flag that set it (--set, --rate).
// A scenario built in code has no places: the error then names the path.
func (s *Scenario) ErrorAt(path, msg string) Error {
	e := Error{File: s.File, Path: path, Msg: msg}
	if s.places == nil {
		return e
	}
	for p := path; ; p = parentPath(p) {
		if at, ok := s.places.at[p]; ok {
			e.Line, e.Column = at[0], at[1]
			break
		}
		if p == "" {
			break
		}
	}
	setOrigin(&e, s.places.sets)
	return e
}
