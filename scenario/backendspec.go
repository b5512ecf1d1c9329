package scenario

import (
	"errors"
	"strings"
)

// ParseBackend reads one backend written in YAML, the way a scenario's pool
// lists it, e.g. "{name: app-1, workers: 4, service_time: {dist:
// exponential, mean: 5ms}}", fills its defaults and validates it. It is
// how a backend running as its own process is configured.
func ParseBackend(text string) (Backend, error) {
	if strings.TrimSpace(text) == "" {
		text = "{}"
	}
	s, err := Parse("backend", []byte("sut: {pools: [{backends: [\n"+text+"\n]}]}\nworkload: [{rate: 1/s}]\n"))
	if err != nil {
		var errs Errors
		if errors.As(err, &errs) {
			for i := range errs {
				errs[i].File, errs[i].Line, errs[i].Column = "backend spec", 0, 0
			}
			return Backend{}, errs
		}
		return Backend{}, err
	}
	return s.SUT.Pools[0].Backends[0], nil
}
