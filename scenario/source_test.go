package scenario

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// endless is a standard input that never ends, as /dev/zero would be.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
	}
	return len(p), nil
}

func TestLoadFromStdin(t *testing.T) {
	scen := "target: {url: 'http://127.0.0.1:9/'}\nworkload: [{rate: 5/s}]\n"
	s, err := LoadWith(context.Background(), StdinPath, LoadOptions{Stdin: strings.NewReader(scen)})
	if err != nil {
		t.Fatal(err)
	}
	if s.File != StdinName || s.Name != "scenario" {
		t.Errorf("file %q, name %q", s.File, s.Name)
	}

	for _, tt := range []struct {
		name  string
		stdin LoadOptions
		want  string
	}{
		{"an error names <stdin>", LoadOptions{Stdin: strings.NewReader("workload: [{rate: fast}]\n")},
			`<stdin>:1:19: expected a rate`},
		{"bounded as a file is", LoadOptions{Stdin: endless{}},
			`<stdin>:`},
		{"no standard input", LoadOptions{},
			`<stdin>: cannot read the scenario file: no standard input`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadWith(context.Background(), StdinPath, tt.stdin)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.As(err, &Errors{}) {
				t.Errorf("error %v, want it to start with %q", err, tt.want)
			}
		})
	}
	_, err = LoadWith(context.Background(), StdinPath, LoadOptions{Stdin: endless{}})
	if err == nil || !strings.Contains(err.Error(), "expected a scenario file of at most 256KiB") {
		t.Errorf("an endless standard input: %v", err)
	}
}
