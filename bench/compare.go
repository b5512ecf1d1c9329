package main

import (
	"fmt"
	"io"
)

// contender is one tool in a comparison.
type contender struct {
	name string
	peer bool // false for ilities itself
	// ref: a reference, neither ilities nor a peer (what the machine
	// itself allows): its figures are noted beside the row, never the
	// best peer a ratio is taken against.
	ref bool
	// missing, when set, is why it cannot run ("peer not installed");
	// it is then named in the table and never measured.
	missing string
	// trees: its own long-lived processes (a proxy), by name, root pid.
	trees map[string]int
	// prepare runs before each measured run, outside its window (a
	// warm-up).
	prepare func() error
	run     func() (result, error)
}

// comparison is one figure's set of contenders, run in rounds.
type comparison struct {
	title      string
	trees      map[string]int // the servers every contender drives
	contenders []*contender
}

// rounds runs every present contender once per round, each round starting
// one place further along, so that no tool always runs first or after the
// same one. A noisy run is repeated up to retries times; if it is still
// noisy it is kept, marked. Progress goes to log.
func (c comparison) rounds(fs procfs, rounds, retries int, lim noiseLimit, log io.Writer) (map[string][]sample, error) {
	var present []*contender
	for _, ct := range c.contenders {
		if ct.missing == "" {
			present = append(present, ct)
		}
	}
	out := map[string][]sample{}
	for round := range rounds {
		for k := range present {
			ct := present[(k+round)%len(present)]
			s, err := c.once(fs, ct, retries, lim, func(try int, s sample) {
				fmt.Fprintf(log, "%s, round %d/%d, %s%s: %s\n", c.title, round+1, rounds, ct.name, tryNote(try), describe(s))
			})
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", c.title, ct.name, err)
			}
			out[ct.name] = append(out[ct.name], s)
		}
	}
	return out, nil
}

func tryNote(try int) string {
	if try == 0 {
		return ""
	}
	return fmt.Sprintf(" (repeat %d)", try)
}

// once measures ct until a run is quiet or retries are spent.
func (c comparison) once(fs procfs, ct *contender, retries int, lim noiseLimit, logRun func(int, sample)) (sample, error) {
	trees := map[string]int{}
	for k, v := range c.trees {
		trees[k] = v
	}
	for k, v := range ct.trees {
		trees[k] = v
	}
	var s sample
	for try := 0; try <= retries; try++ {
		if ct.prepare != nil {
			if err := ct.prepare(); err != nil {
				return sample{}, fmt.Errorf("warm-up: %w", err)
			}
		}
		var err error
		if s, err = measure(fs, trees, ct.run); err != nil {
			return sample{}, err
		}
		s.noise = lim.noisy(s.win)
		logRun(try, s)
		if s.noise == "" {
			break
		}
	}
	return s, nil
}

// describe is a progress line's account of one run.
func describe(s sample) string {
	line := fmt.Sprintf("%d requests in %.1fs, tool CPU %.2fs", s.requests, s.seconds, s.cpu)
	for name, v := range s.trees {
		line += fmt.Sprintf(", %s CPU %.2fs", name, v)
	}
	line += fmt.Sprintf("; others %.2f cores, steal %.2f; before: %s; during: %s",
		s.win.others(), s.win.steal/max(s.win.wall, 1e-9), s.win.before, s.win.during)
	if s.note != "" {
		line += "; " + s.note
	}
	if s.noise != "" {
		line += "; NOISY: " + s.noise
	}
	return line
}
