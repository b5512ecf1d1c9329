package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

func sp(med, lo, hi float64, n, noisy int) spread {
	return spread{med: med, lo: lo, hi: hi, n: n, noisy: noisy}
}

// fixtureTable has every kind of row: a ratio, a higher-is-better figure,
// a refused ratio, a missing peer, a peer that does not report the figure.
func fixtureTable() table {
	mic := func(tool string, s spread) cell { return cell{tool: tool, s: s, format: fmtMicros} }
	return table{
		title: "ilities and its peers",
		rows: []row{
			{figure: "closed loop, 64 conns, CPU µs per request", own: mic("ilities", sp(15, 14.2, 16.1, 5, 0)),
				peers: []cell{mic("wrk -t2 -c64", sp(14, 13.8, 14.5, 5, 0))}},
			{figure: "open loop 10k/s, CPU µs per request", own: mic("ilities attack", sp(15.4, 15, 16, 5, 0)),
				peers: []cell{mic("wrk paced (10 conn × 1 ms delay())", sp(22.7, 21, 23, 5, 0)), mic("vegeta attack", sp(30, 29, 31, 5, 0))},
				notes: []string{"no wrk2: a paced wrk | instead"}},
			{figure: "open loop 50k/s, CPU µs per request", own: mic("ilities attack", sp(10.7, 10, 20, 5, 2)),
				peers: []cell{mic("wrk paced", sp(15.9, 15, 16, 5, 0))}},
			{figure: "highest open-loop rate held", higher: true, own: cell{tool: "ilities attack", s: sp(80000, 50000, 100000, 5, 0), format: fmtRate},
				peers: []cell{{tool: "wrk2", missing: notInstalled}, {tool: "vegeta", missing: notInstalled}}},
			{figure: "proxy, wrk -c64, throughput", higher: true, own: cell{tool: "ilities proxy", s: sp(31953, 31000, 32500, 5, 0), format: fmtReqPerSec},
				peers: []cell{{tool: "nginx", s: sp(32208, 31000, 33000, 5, 0), format: fmtReqPerSec}, {tool: "HAProxy", s: sp(30000, 29000, 31000, 5, 0), format: fmtReqPerSec}},
				refs:  []cell{{tool: "HAProxy (mode tcp, L4 floor)", s: sp(40000, 39000, 41000, 5, 0), format: fmtReqPerSec}}},
			{figure: "at 1,000/s, send lag p50", own: cell{tool: "ilities attack", s: sp(0.031, 0.029, 0.04, 1, 0), format: fmtMillis},
				peers: []cell{{tool: "vegeta", missing: "not reported"}}},
			{figure: "memory per open connection", own: cell{tool: "ilities", missing: "not measured: nginx (the target) not installed"},
				peers: []cell{{tool: "wrk", missing: "not measured: nginx (the target) not installed"}}},
		},
		method:  "Rounds, medians.",
		setup:   []string{"2 CPUs"},
		details: []string{"closed loop — wrk: tool CPU 14.0 µs/req"},
	}
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := fixtureTable().markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| figure | ilities | best peer | ratio |\n| --- | --- | --- | --- |\n",
		"| 15.0 µs (14.2–16.1) | wrk -t2 -c64 14.0 µs (13.8–14.5) | 1.07× |",
		"| wrk paced (10 conn × 1 ms delay()) 22.7 µs (21.0–23.0) | 0.68× |", // the best of two peers
		"| 10.7 µs (10.0–20.0), 2 of 5 rounds noisy | wrk paced 15.9 µs (15.0–16.0) | refused: noisy rounds (ilities 2 of 5, wrk paced 0 of 5) |",
		"| wrk2: peer not installed; vegeta: peer not installed | — |",
		"| nginx 32,208 req/s (31,000–33,000) | 0.99× |", // higher is better: nginx, not HAProxy, nor the reference
		"- proxy, wrk -c64, throughput: for reference, not a peer: HAProxy (mode tcp, L4 floor) 40,000 req/s (39,000–41,000)\n",
		"| 80k/s (50k–100k) |",
		"| 0.031 ms | vegeta: not reported | — |",
		"| not measured: nginx (the target) not installed |",
		"no wrk2: a paced wrk | instead",
		"## Method\n\nRounds, medians.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	checkGolden(t, "table.golden.md", b.Bytes())
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bench -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRowOf(t *testing.T) {
	s := func(v float64, noise string) sample {
		return sample{result: result{fig: map[string]float64{"x": v}}, noise: noise}
	}
	c := comparison{contenders: []*contender{
		{name: "ilities"}, {name: "wrk", peer: true}, {name: "vegeta", peer: true, missing: notInstalled}, {name: "floor", ref: true},
	}}
	got := map[string][]sample{
		"ilities": {s(10, ""), s(12, ""), s(11, "")},
		"wrk":     {s(20, ""), s(22, "busy"), s(21, "")},
		"floor":   {s(1, ""), s(1, ""), s(1, "")}, // better than all: a reference, never the ratio's peer
	}
	r := rowOf(figure{name: "cpu", value: fig("x"), format: fmtMicros}, c, got)
	if r.own.s != sp(11, 10, 12, 3, 0) || len(r.peers) != 2 || r.peers[0].s != sp(21, 20, 22, 3, 1) || r.peers[1].s.n != 0 ||
		len(r.refs) != 1 || r.refs[0].s != sp(1, 1, 1, 3, 0) {
		t.Errorf("row = %+v", r)
	}
	if r.ratio() != "refused: noisy rounds (ilities 0 of 3, wrk 1 of 3)" {
		t.Errorf("ratio = %q", r.ratio())
	}
	got["wrk"][1].noise = ""
	if r := rowOf(figure{name: "cpu", value: fig("x"), format: fmtMicros}, c, got); r.ratio() != "0.52×" {
		t.Errorf("ratio = %q, want 0.52×", r.ratio())
	}
}

func TestFormats(t *testing.T) {
	cases := []struct{ got, want string }{
		{thousands(1234567.4), "1,234,567"}, {thousands(999), "999"}, {thousands(-1000), "-1,000"}, {thousands(0), "0"},
		{fmtRate.one(150000), "150k/s"}, {fmtRate.one(1000), "1,000/s"}, {fmtRate.one(500), "500/s"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
