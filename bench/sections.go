package main

import (
	"cmp"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ilities/ilities/report"
)

// bench holds what the sections share: the settings, the target and what
// the table gathers.
type bench struct {
	cfg     *config
	target  *server // nginx serving "ok": the generators' target
	rows    []row
	details []string
}

const notInstalled = "peer not installed"

// has says whether a peer binary is on PATH.
func (b *bench) has(bin string) bool {
	_, err := exec.LookPath(bin)
	return err == nil
}

// targetTrees names the target's process tree for a comparison that
// drives it.
func (b *bench) targetTrees() map[string]int {
	if b.target == nil {
		return nil
	}
	return map[string]int{"target": b.target.pid()}
}

// missingTarget fills in why contenders cannot run against the target
// at all (no nginx, or the tool itself missing).
func (b *bench) missingTarget(cs []*contender) {
	if b.target != nil {
		return
	}
	for _, c := range cs {
		if c.missing == "" {
			c.missing = "not measured: nginx (the target) not installed"
		}
	}
}

// compare runs c's rounds and returns its samples, its details recorded.
func (b *bench) compare(c comparison) (map[string][]sample, error) {
	got, err := c.rounds(b.cfg.fs, b.cfg.rounds, b.cfg.retries, b.cfg.limit, b.cfg.log)
	if err != nil {
		return nil, err
	}
	b.details = append(b.details, details(c, got)...)
	return got, nil
}

func cpuPerRequest(s sample) float64 { return perRequest(s.cpu, s.requests) }

func fig(name string) func(sample) float64 {
	return func(s sample) float64 {
		if v, ok := s.fig[name]; ok {
			return v
		}
		return math.NaN()
	}
}

// closedLoop: wrk and ilities each keep conns connections busy, as fast as
// the target answers.
func (b *bench) closedLoop() error {
	cfg := b.cfg
	d := cfg.duration
	own := &contender{name: "ilities run (closed, users)", run: func() (result, error) {
		path, err := closedScenario(cfg.dir, b.target.url(), "/", cfg.conns, 0, d)
		if err != nil {
			return result{}, err
		}
		out, cpu, err := runTool(ilitiesClosedCmd(cfg.ilities, path))
		if err != nil {
			return result{}, err
		}
		r, _, err := readIlities(out, cpu)
		return r, err
	}}
	wrk := &contender{name: fmt.Sprintf("wrk -t2 -c%d", cfg.conns), peer: true, run: func() (result, error) {
		out, cpu, err := runTool(exec.Command("wrk", append(wrkArgs(2, cfg.conns, d), b.target.url()+"/")...))
		if err != nil {
			return result{}, err
		}
		return readWrk(out, cpu)
	}}
	if !b.has("wrk") {
		wrk.missing = notInstalled
	}
	c := comparison{title: fmt.Sprintf("closed loop, %d conns", cfg.conns), trees: b.targetTrees(), contenders: []*contender{own, wrk}}
	b.missingTarget(c.contenders)
	got, err := b.compare(c)
	if err != nil {
		return err
	}
	b.rows = append(b.rows, rowOf(figure{name: c.title + ", CPU µs per request", value: cpuPerRequest, format: fmtMicros}, c, got))
	return nil
}

// openContenders are the open-loop tools at rate: ilities attack, wrk2 (or
// a paced wrk where there is none) and vegeta.
func (b *bench) openContenders(rate int, d time.Duration) []*contender {
	cfg := b.cfg
	url := func() string { return b.target.url() }
	own := &contender{name: "ilities attack", run: func() (result, error) {
		r, res, err := ilitiesAttack(cfg.ilities, url(), rate, d)
		if res.Generator.Saturated {
			r.note = "saturated: " + res.Generator.Reason
		}
		return r, err
	}}
	p := pacingFor(rate)
	var wrk *contender
	if b.has("wrk2") {
		wrk = &contender{name: fmt.Sprintf("wrk2 -c%d -R%d", p.conns, rate), peer: true, run: func() (result, error) {
			out, cpu, err := runTool(exec.Command("wrk2", append(wrkArgs(2, p.conns, d), fmt.Sprintf("-R%d", rate), url()+"/")...))
			if err != nil {
				return result{}, err
			}
			return readWrk(out, cpu)
		}}
	} else {
		wrk = &contender{name: p.name(), peer: true, run: func() (result, error) {
			script, err := delayScript(cfg.dir, p.ms)
			if err != nil {
				return result{}, err
			}
			out, cpu, err := runTool(exec.Command("wrk", append(wrkArgs(2, p.conns, d), "-s", script, url()+"/")...))
			if err != nil {
				return result{}, err
			}
			return readWrk(out, cpu)
		}}
		if !b.has("wrk") {
			wrk.name, wrk.missing = "wrk2 or wrk", notInstalled
		}
	}
	veg := &contender{name: "vegeta attack", peer: true, run: func() (result, error) {
		return vegetaAttack(findVegeta(), url(), cfg.dir, rate, d)
	}}
	if findVegeta() == "" {
		veg.name, veg.missing = "vegeta", notInstalled
	}
	cs := []*contender{own, wrk, veg}
	b.missingTarget(cs)
	return cs
}

// pacedNote says what stands in for wrk2 where it is absent.
func (b *bench) pacedNote(rate int) string {
	if b.has("wrk2") {
		return ""
	}
	return fmt.Sprintf("no wrk2 (Debian has no package): %s instead, a closed loop paced by think time that stays below the rate by each response's time; achieved rates are in the details", pacingFor(rate).name())
}

// openLoop: CPU per request at a fixed open-loop rate.
func (b *bench) openLoop(rate int) error {
	c := comparison{title: fmt.Sprintf("open loop %s", fmtRate.one(float64(rate))), trees: b.targetTrees(), contenders: b.openContenders(rate, b.cfg.duration)}
	got, err := b.compare(c)
	if err != nil {
		return err
	}
	r := rowOf(figure{name: c.title + ", CPU µs per request", value: cpuPerRequest, format: fmtMicros}, c, got)
	if n := b.pacedNote(rate); n != "" {
		r.notes = append(r.notes, n)
	}
	b.rows = append(b.rows, r)
	return nil
}

// lowRate: at a rate where the generator is idle most of the time, its
// own delay before each send and what its idle machinery costs.
func (b *bench) lowRate() error {
	rate := b.cfg.lowRate
	c := comparison{title: fmt.Sprintf("at %s", fmtRate.one(float64(rate))), trees: b.targetTrees(), contenders: b.openContenders(rate, b.cfg.duration)}
	got, err := b.compare(c)
	if err != nil {
		return err
	}
	lag := rowOf(figure{name: c.title + ", send lag p50", value: fig(figSendLagP50), format: fmtMillis}, c, got)
	lag.notes = append(lag.notes, "wrk2, wrk and vegeta report no send lag: their latency p50, from the intended time for wrk2 and from the actual send for wrk and vegeta, is the next row")
	for i := range lag.peers {
		if lag.peers[i].missing == "" {
			lag.peers[i].missing = "not reported"
		}
	}
	lat := rowOf(figure{name: c.title + ", latency p50", value: fig(figLatencyP50), format: fmtMillis}, c, got)
	cpu := rowOf(figure{name: c.title + ", CPU µs per request", value: cpuPerRequest, format: fmtMicros}, c, got)
	if n := b.pacedNote(rate); n != "" {
		cpu.notes = append(cpu.notes, n)
	}
	b.rows = append(b.rows, lag, lat, cpu)
	return nil
}

// stepUp runs try at each rate in turn, up to the first it does not hold.
// try says why a rate was not held ("" when it was).
func stepUp(steps []int, try func(rate int) (result, string, error)) (result, error) {
	total := result{fig: map[string]float64{figHeld: 0}}
	for _, rate := range steps {
		r, why, err := try(rate)
		if err != nil {
			return result{}, err
		}
		total.requests += r.requests
		total.seconds += r.seconds
		total.cpu += r.cpu
		total.aside += r.aside
		if why != "" {
			total.note = fmt.Sprintf("not held at %s: %s", fmtRate.one(float64(rate)), why)
			return total, nil
		}
		total.fig[figHeld] = float64(rate)
	}
	total.note = fmt.Sprintf("held every step up to %s", fmtRate.one(float64(steps[len(steps)-1])))
	return total, nil
}

// shortOf is why an achieved rate is not the one asked for.
func shortOf(r result, rate int) string {
	if got := r.fig[figRate]; got < 0.99*float64(rate) {
		return fmt.Sprintf("achieved %s", fmtRate.one(got))
	}
	return ""
}

// errorClasses names the classes of failed requests with their counts,
// in the reports' order: the most frequent first.
func errorClasses(byClass map[string]int64) string {
	var parts []string
	for _, c := range report.ErrorClassesByCount(byClass) {
		parts = append(parts, fmt.Sprintf("%s %d", c.Class, c.Count))
	}
	if len(parts) == 0 {
		return "no class reported"
	}
	return strings.Join(parts, ", ")
}

// ceiling: the highest open-loop rate held, stepping up.
func (b *bench) ceiling() error {
	cfg := b.cfg
	d := cfg.duration
	url := func() string { return b.target.url() }
	own := &contender{name: "ilities attack", run: func() (result, error) {
		return stepUp(cfg.steps, func(rate int) (result, string, error) {
			r, res, err := ilitiesAttack(cfg.ilities, url(), rate, d)
			switch {
			case err != nil:
				return r, "", err
			case res.Generator.Saturated:
				return r, "saturated: " + res.Generator.Reason, nil
			case res.Totals.Failed > 0:
				return r, fmt.Sprintf("%d requests failed (%s)", res.Totals.Failed, errorClasses(res.Errors)), nil
			}
			return r, shortOf(r, rate), nil
		})
	}}
	wrk2 := &contender{name: "wrk2", peer: true, missing: notInstalled, run: func() (result, error) {
		return stepUp(cfg.steps, func(rate int) (result, string, error) {
			out, cpu, err := runTool(exec.Command("wrk2", append(wrkArgs(2, cfg.conns, d), fmt.Sprintf("-R%d", rate), url()+"/")...))
			if err != nil {
				return result{}, "", err
			}
			r, err := readWrk(out, cpu)
			if err == nil && r.note != "" {
				return r, r.note, nil
			}
			return r, shortOf(r, rate), err
		})
	}}
	if b.has("wrk2") {
		wrk2.missing = ""
	}
	veg := &contender{name: "vegeta", peer: true, missing: notInstalled, run: func() (result, error) {
		return stepUp(cfg.steps, func(rate int) (result, string, error) {
			r, err := vegetaAttack(findVegeta(), url(), cfg.dir, rate, d)
			if err == nil {
				err = r.finish(&r)
				r.finish = nil
			}
			if err == nil && r.note != "" {
				return r, r.note, nil
			}
			return r, shortOf(r, rate), err
		})
	}}
	if findVegeta() != "" {
		veg.missing = ""
	}
	c := comparison{title: "highest open-loop rate held", trees: b.targetTrees(), contenders: []*contender{own, wrk2, veg}}
	b.missingTarget(c.contenders)
	got, err := b.compare(c)
	if err != nil {
		return err
	}
	r := rowOf(figure{name: c.title, value: fig(figHeld), format: fmtRate, higher: true}, c, got)
	steps := make([]string, len(cfg.steps))
	for i, s := range cfg.steps {
		steps[i] = fmtRate.one(float64(s))
	}
	r.notes = append(r.notes, fmt.Sprintf("steps %s, %s each; held: not saturated, nothing failed, at least 99%% of the rate achieved", strings.Join(steps, ", "), d))
	for _, ct := range c.contenders {
		if ct.missing == "" {
			r.notes = append(r.notes, ct.name+", the ceiling's reason by round: "+notes(got[ct.name]))
		}
	}
	b.rows = append(b.rows, r)
	return nil
}

// notes lists each round's note.
func notes(ss []sample) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("round %d: %s", i+1, cmp.Or(s.note, "—"))
	}
	return strings.Join(out, "; ")
}

// proxies: the built-in proxy (`ilities proxy`), nginx and HAProxy, each
// with the same number of workers or threads, in front of the same nginx
// backends, driven by wrk; over HTTP/1.1, HAProxy in mode tcp beside them
// for reference, the floor a proxy meets on this machine.
// proxyDriver is the load a proxy comparison drives each proxy with: wrk
// over HTTP/1.1, or h2load over HTTP/2 with prior knowledge (h2c).
type proxyDriver struct {
	bin, title string
	h2         bool
	run        func(url string, d time.Duration) (result, error)
}

func (b *bench) wrkDriver() proxyDriver {
	conns := b.cfg.conns
	return proxyDriver{bin: "wrk", title: fmt.Sprintf("proxy, wrk -c%d", conns), run: func(url string, d time.Duration) (result, error) {
		out, cpu, err := runTool(exec.Command("wrk", append(wrkArgs(1, conns, d), url+"/")...))
		if err != nil {
			return result{}, err
		}
		return readWrk(out, cpu)
	}}
}

func (b *bench) h2loadDriver() proxyDriver {
	conns, streams := b.cfg.h2Conns, b.cfg.h2Streams
	return proxyDriver{bin: "h2load", h2: true, title: fmt.Sprintf("proxy, HTTP/2 (h2c), h2load -c%d -m%d", conns, streams),
		run: func(url string, d time.Duration) (result, error) {
			out, cpu, err := runTool(exec.Command("h2load", h2loadArgs(conns, streams, d, url+"/")...))
			if err != nil {
				return result{}, err
			}
			return readH2load(out, cpu)
		}}
}

// proxies compares the proxies over HTTP/1.1, driven by wrk.
func (b *bench) proxies() error { return b.proxiesWith(b.wrkDriver()) }

// proxiesH2 compares them over HTTP/2 on the front, driven by h2load: the
// same backends over HTTP/1.1 behind each.
func (b *bench) proxiesH2() error { return b.proxiesWith(b.h2loadDriver()) }

func (b *bench) proxiesWith(drv proxyDriver) error {
	cfg := b.cfg
	fs := cfg.fs
	type kind struct {
		name, bin string
		peer, ref bool
		start     func(backends []string) (*server, error)
	}
	kinds := []kind{
		{name: fmt.Sprintf("ilities proxy (GOMAXPROCS=%d)", cfg.proxyWorkers), bin: cfg.ilities, start: func(be []string) (*server, error) {
			return startIlitiesProxy(cfg.ilities, cfg.proxyWorkers, be, fs)
		}},
		{name: fmt.Sprintf("nginx (worker_processes %d)", cfg.proxyWorkers), bin: "nginx", peer: true, start: func(be []string) (*server, error) {
			return startNginxProxy(filepath.Join(cfg.dir, "nginx-proxy"), cfg.proxyWorkers, drv.h2, be, fs)
		}},
		{name: fmt.Sprintf("HAProxy (nbthread %d)", cfg.proxyWorkers), bin: "haproxy", peer: true, start: func(be []string) (*server, error) {
			return startHAProxy(filepath.Join(cfg.dir, "haproxy"), cfg.proxyWorkers, drv.h2, be, fs)
		}},
	}
	if !drv.h2 {
		// The floor of the machine: HAProxy forwarding bytes (mode tcp), no
		// HTTP parsed, each client connection on a backend connection of
		// its own. What no HTTP proxy in front of these backends can beat.
		kinds = append(kinds, kind{name: fmt.Sprintf("HAProxy (mode tcp, L4 floor, nbthread %d)", cfg.proxyWorkers), bin: "haproxy", ref: true, start: func(be []string) (*server, error) {
			return startHAProxyTCP(filepath.Join(cfg.dir, "haproxy-tcp"), cfg.proxyWorkers, be, fs)
		}})
	}
	c := comparison{title: drv.title}
	var backends *server
	driverMissing := ""
	switch {
	case !b.has(drv.bin):
		driverMissing = "not measured: " + drv.bin + " (the driver) not installed"
	case !b.has("nginx"):
		driverMissing = "not measured: nginx (the backends) not installed"
	default:
		var err error
		if backends, err = startOrigin(filepath.Join(cfg.dir, "backends"), cfg.backendWorkers, 2, fs); err != nil {
			return err
		}
		defer backends.stop(fs)
		c.trees = map[string]int{"backends": backends.pid()}
	}
	for _, k := range kinds {
		ct := &contender{name: k.name, peer: k.peer, ref: k.ref}
		c.contenders = append(c.contenders, ct)
		switch {
		case driverMissing != "":
			ct.missing = driverMissing
			continue
		case !b.has(k.bin):
			ct.missing = notInstalled
			continue
		}
		srv, err := k.start(backends.addrs)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		defer srv.stop(fs)
		ct.trees = map[string]int{"proxy": srv.pid()}
		drive := func(d time.Duration) (result, error) {
			r, err := drv.run(srv.url(), d)
			if err == nil && r.note != "" {
				err = fmt.Errorf("errors under load: %s", r.note)
			}
			return r, err
		}
		ct.prepare = func() error { _, err := drive(time.Second); return err }
		ct.run = func() (result, error) { return drive(cfg.duration) }
	}
	got, err := b.compare(c)
	if err != nil {
		return err
	}
	tput := rowOf(figure{name: c.title + ", throughput", value: fig(figRate), format: fmtReqPerSec, higher: true}, c, got)
	cpu := rowOf(figure{name: strings.Replace(drv.title, ", ", ", CPU µs per request (its process tree), ", 1), value: func(s sample) float64 {
		return perRequest(s.trees["proxy"], s.requests)
	}, format: fmtMicros}, c, got)
	be := rowOf(figure{value: func(s sample) float64 { return perRequest(s.trees["backends"], s.requests) }, format: fmtMicros}, c, got)
	var beNotes []string
	for _, cl := range append([]cell{be.own}, be.peers...) {
		if cl.has() {
			beNotes = append(beNotes, cl.tool+" "+cl.text())
		}
	}
	if len(beNotes) > 0 {
		cpu.notes = append(cpu.notes, "the backends' CPU µs per request (nginx, 2 ports, "+fmt.Sprint(cfg.backendWorkers)+" worker), counted apart: "+strings.Join(beNotes, "; "))
	}
	tput.notes = append(tput.notes, fmt.Sprintf("each proxy with %d worker/thread/event loop, driven by %s, in front of the same nginx backends (HTTP/1.1, kept alive)", cfg.proxyWorkers, strings.TrimPrefix(drv.title, "proxy, ")))
	b.rows = append(b.rows, tput, cpu)
	return nil
}

// memory: resident memory per open connection, from many idle keep-alive
// connections: each tool opens few, then many, and the growth is divided
// by the connections it held open.
func (b *bench) memory() error {
	cfg := b.cfg
	few, many := max(1, cfg.idleConns/10), cfg.idleConns
	d := cfg.memDuration
	measureLevels := func(start func(n int) (*exec.Cmd, error)) (result, error) {
		total := result{fig: map[string]float64{}}
		var rss, socks [2]float64
		for i, n := range []int{few, many} {
			cmd, err := start(n)
			if err != nil {
				return result{}, err
			}
			cmd.Stdout, cmd.Stderr = nil, nil
			if err := cmd.Start(); err != nil {
				return result{}, err
			}
			// Wait until the count of open sockets holds still for 700 ms,
			// within the run's length.
			got, since := 0, time.Now()
			for deadline := time.Now().Add(d - d/5); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if now := cfg.fs.sockets(cmd.Process.Pid); now != got {
					got, since = now, time.Now()
				} else if got > 0 && time.Since(since) >= 700*time.Millisecond {
					break
				}
			}
			rss[i] = float64(cfg.fs.treeRSS(cmd.Process.Pid))
			socks[i] = float64(cfg.fs.sockets(cmd.Process.Pid))
			if err := cmd.Wait(); err != nil {
				return result{}, fmt.Errorf("%s: %v", filepath.Base(cmd.Path), err)
			}
			total.cpu += exited(cmd)
			if i == 1 && got < n*9/10 {
				total.note = fmt.Sprintf("only %d sockets open with %d connections asked", got, n)
				total.fig[figKiBPerConn] = math.NaN()
				return total, nil
			}
		}
		total.fig[figKiBPerConn] = (rss[1] - rss[0]) / max(socks[1]-socks[0], 1)
		total.note = fmt.Sprintf("%.0f KiB with %.0f sockets, %.0f KiB with %.0f", rss[0], socks[0], rss[1], socks[1])
		return total, nil
	}
	own := &contender{name: "ilities run (closed, idle users)", run: func() (result, error) {
		return measureLevels(func(n int) (*exec.Cmd, error) {
			path, err := closedScenario(cfg.dir, b.target.url(), idlePath, n, time.Hour, d)
			return ilitiesClosedCmd(cfg.ilities, path), err
		})
	}}
	wrk := &contender{name: "wrk -t1", peer: true, run: func() (result, error) {
		script, err := delayScript(cfg.dir, 3600_000)
		if err != nil {
			return result{}, err
		}
		return measureLevels(func(n int) (*exec.Cmd, error) {
			return exec.Command("wrk", append(wrkArgs(1, n, d), "-s", script, b.target.url()+idlePath)...), nil
		})
	}}
	if !b.has("wrk") {
		wrk.missing = notInstalled
	}
	c := comparison{title: "memory per open connection", trees: b.targetTrees(), contenders: []*contender{own, wrk}}
	b.missingTarget(c.contenders)
	got, err := b.compare(c)
	if err != nil {
		return err
	}
	r := rowOf(figure{name: c.title, value: fig(figKiBPerConn), format: fmtKiB}, c, got)
	r.notes = append(r.notes, fmt.Sprintf("resident memory (VmRSS of the process tree) with %d and with %d connections kept alive and idle (ilities: as many users thinking for an hour), the growth divided by the growth of the sockets held; the first requests go to %s, which nginx answers at %d/s, the rest queued, so that every user opens its own connection; by round: ilities %s", few, many, idlePath, idleRate, notes(got[own.name])))
	if wrk.missing == "" {
		r.notes = append(r.notes, "wrk by round: "+notes(got[wrk.name]))
	}
	b.rows = append(b.rows, r)
	return nil
}

// details is one line per contender: every figure it has, its servers'
// CPU and the machine during its rounds.
func details(c comparison, got map[string][]sample) []string {
	var out []string
	for _, ct := range c.contenders {
		if ct.missing != "" {
			out = append(out, fmt.Sprintf("%s — %s: %s", c.title, ct.name, ct.missing))
			continue
		}
		ss := got[ct.name]
		cl := func(f func(sample) float64, format format) string {
			sp := summarize(ss, f)
			sp.noisy = 0 // counted once, at the end of the line
			return cell{s: sp, format: format}.text()
		}
		var parts []string
		add := func(label string, f func(sample) float64, format format, unit string) {
			if summarize(ss, f).n > 0 {
				parts = append(parts, label+" "+cl(f, format)+unit)
			}
		}
		add("tool CPU", cpuPerRequest, fmtMicros, "/req")
		add("rate", fig(figRate), fmtReqPerSec, "")
		var names []string
		for _, s := range ss {
			for name := range s.trees {
				if !slices.Contains(names, name) {
					names = append(names, name)
				}
			}
		}
		slices.Sort(names)
		for _, name := range names {
			add(name+" CPU", func(s sample) float64 { return perRequest(s.trees[name], s.requests) }, fmtMicros, "/req")
		}
		var others, pressure, load []float64
		noisy := 0
		for _, s := range ss {
			others = append(others, s.win.others())
			load = append(load, s.win.before.load1, s.win.during.load1)
			if s.win.during.pressure10 >= 0 {
				pressure = append(pressure, s.win.during.pressure10)
			}
			if s.noise != "" {
				noisy++
			}
		}
		machine := fmt.Sprintf("others' CPU up to %.2f cores, load %.1f–%.1f", slices.Max(others), slices.Min(load), slices.Max(load))
		if len(pressure) > 0 {
			machine += fmt.Sprintf(", CPU pressure during %.0f–%.0f%%", slices.Min(pressure), slices.Max(pressure))
		}
		parts = append(parts, machine, fmt.Sprintf("%d of %d rounds noisy", noisy, len(ss)))
		out = append(out, fmt.Sprintf("%s — %s: %s", c.title, ct.name, strings.Join(parts, "; ")))
	}
	return out
}
