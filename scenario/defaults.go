package scenario

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by ApplyDefaults.
const (
	DefaultSeed          = 1
	DefaultDuration      = Duration(10 * time.Second)
	DefaultWindowOK      = Percent(0.99)
	DefaultListen        = "127.0.0.1:0"
	DefaultAdmin         = "127.0.0.1:0"
	DefaultStrategy      = "round-robin"
	DefaultProxyTimeout  = Duration(30 * time.Second)
	DefaultWorkers       = 1
	DefaultQueue         = 1024
	DefaultWeight        = 1
	DefaultModel         = "open"
	DefaultArrival       = "uniform"
	DefaultTimeout       = Duration(10 * time.Second)
	DefaultMaxInflight   = 1000
	DefaultRequestMethod = "GET"
	DefaultRequestPath   = "/"
)

// ApplyDefaults fills every field left unset. A zero value means unset:
// "workers: 0" reads as the default, not as zero workers.
//
// Duration, when unset, is the longest workload's stage total, or 10s when
// every workload has a constant rate.
func (s *Scenario) ApplyDefaults() {
	if s.Name == "" {
		s.Name = "scenario"
		if s.File != "" && s.File != StdinName {
			base := filepath.Base(s.File)
			s.Name = strings.TrimSuffix(base, filepath.Ext(base))
		}
	}
	if s.Seed == 0 {
		s.Seed = DefaultSeed
	}
	if s.WindowOK == 0 {
		s.WindowOK = DefaultWindowOK
	}
	if s.SUT != nil {
		s.SUT.applyDefaults("")
	}
	s.applySiteDefaults()
	s.applyFaultDefaults()
	for i := range s.Data {
		s.Data[i].applyDefaults()
	}
	inflight := s.defaultMaxInflight()
	for i := range s.Workload {
		w := &s.Workload[i]
		if w.Name == "" {
			w.Name = "default"
			if len(s.Workload) > 1 {
				w.Name = "workload-" + strconv.Itoa(i+1)
			}
		}
		w.applyDefaults(inflight)
	}
	if s.Duration == 0 {
		s.Duration = DefaultDuration
		var longest time.Duration
		for _, w := range s.Workload {
			longest = max(longest, w.TotalLength())
		}
		if longest > 0 {
			s.Duration = Duration(longest)
		}
	}
}

// defaultPoolName is the name of pool i of n left unnamed: "default" or
// "pool-N", the site's name or "SITE-pool-N" in a site.
func defaultPoolName(site string, i, n int) string {
	switch {
	case n == 1 && site == "":
		return "default"
	case n == 1:
		return site
	case site == "":
		return "pool-" + strconv.Itoa(i+1)
	}
	return site + "-pool-" + strconv.Itoa(i+1)
}

// applyDefaults fills the topology's defaults; site names its pools left
// unnamed when it is one of several sites ("eu", "eu-pool-2"), so that
// names stay unique across them.
func (s *SUT) applyDefaults(site string) {
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	if s.Proxy.Strategy == "" {
		s.Proxy.Strategy = DefaultStrategy
	}
	if s.Proxy.Timeout == 0 {
		s.Proxy.Timeout = DefaultProxyTimeout
	}
	s.Proxy.ProxyOptions.applyDefaults()
	for i := range s.Pools {
		p := &s.Pools[i]
		if p.Name == "" {
			p.Name = defaultPoolName(site, i, len(s.Pools))
		}
		for j := range p.Calls {
			p.Calls[j].applyDefaults()
		}
	}
	tiers := s.Tiers() // the pools' names are known now
	for i := range s.Pools {
		p := &s.Pools[i]
		if tiers[p.Name] {
			// A tier is reached by its callers, not routed to: no match.
			if p.Strategy == "" {
				p.Strategy = DefaultStrategy
			}
		} else if p.Match.PathPrefix == "" {
			p.Match.PathPrefix = "/"
		}
		for j := range p.Backends {
			b := &p.Backends[j]
			if b.Name == "" {
				b.Name = p.Name + "-" + strconv.Itoa(j+1)
			}
			b.applyDefaults()
		}
	}
}

func (b *Backend) applyDefaults() {
	if b.Workers == 0 {
		b.Workers = DefaultWorkers
	}
	if b.Queue == nil {
		q := DefaultQueue
		b.Queue = &q
	}
	if b.Weight == 0 {
		b.Weight = DefaultWeight
	}
	if b.Listen == "" {
		b.Listen = DefaultListen
	}
	if b.ServiceTime == (Distribution{}) {
		b.ServiceTime = Distribution{Dist: "constant"}
	}
}

// defaultMaxInflight is DefaultMaxInflight, or the workloads' share of
// what this machine allows (Machine.MaxConcurrency) when that is less: a
// default must not make a scenario invalid on a machine with a low
// open-file limit.
func (s *Scenario) defaultMaxInflight() int {
	share := ThisMachine().MaxConcurrency(s.fdsPerConn()) / int64(max(len(s.Workload), 1))
	return int(max(1, min(DefaultMaxInflight, share)))
}

func (w *Workload) applyDefaults(maxInflight int) {
	if w.Model == "" {
		w.Model = DefaultModel
	}
	if w.Arrival == "" {
		w.Arrival = DefaultArrival
	}
	if w.Timeout == 0 {
		w.Timeout = DefaultTimeout
	}
	if w.MaxInflight == 0 {
		w.MaxInflight = maxInflight
	}
	if w.MaxLateness == 0 {
		w.MaxLateness = w.Timeout
	}
	if len(w.Requests) == 0 && len(w.Session) == 0 {
		w.Requests = []Request{{}}
	}
	w.applyLoadDefaults()
	for i := range w.Requests {
		r := &w.Requests[i]
		if r.Method == "" {
			r.Method = DefaultRequestMethod
		}
		if r.Path == "" {
			r.Path = DefaultRequestPath
		}
		if r.Weight == 0 {
			r.Weight = DefaultWeight
		}
	}
}

// OK reports whether a response status counts as success: one of the
// listed statuses, or any 2xx/3xx when none are listed.
func (e Expect) OK(status int) bool {
	if len(e.Status) == 0 {
		return status >= 200 && status <= 399
	}
	for _, s := range e.Status {
		if s == status {
			return true
		}
	}
	return false
}
