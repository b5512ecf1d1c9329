package scenario

import (
	"strings"
	"testing"
	"time"
)

const twoSites = `
sites:
  - name: eu
    sut: {pools: [{backends: [{workers: 4}, {workers: 4}]}]}
  - name: us
    sut:
      proxy: {replicas: 2}
      pools:
        - {name: web, backends: [{name: web-1}], calls: [{pool: db}]}
        - {name: db, backends: [{name: db-1}]}
regions:
  - {name: europe, share: 60%, rtt: {eu: 10ms, us: 90ms}}
  - {name: america, share: 40%, rtt: {eu: 90ms, us: 10ms}}
dns: {ttl: 30s}
workload: [{rate: 10/s}]
faults:
  - {at: 2s, for: 3s, kind: site-down, site: eu}
  - {at: 3s, kind: crash, node: db-1}
  - {at: 4s, kind: crash-proxy, site: us, node: proxy-2}
duration: 10s
`

// A site's pools and backends left unnamed take its name; the DNS gets its
// defaults; each fault belongs to the site of what it acts on.
func TestSitesParse(t *testing.T) {
	s, err := Parse("s.yaml", []byte(twoSites))
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasSites() || len(s.AllSites()) != 2 || s.SUT != nil {
		t.Fatalf("sites: %+v", s.Sites)
	}
	eu := s.Sites[0].SUT
	if p := eu.Pools[0]; p.Name != "eu" || p.Backends[0].Name != "eu-1" || p.Backends[1].Name != "eu-2" || p.Match.PathPrefix != "/" {
		t.Fatalf("eu's defaults: %+v", p)
	}
	d := s.DNS
	if d.Policy != "nearest" || d.TTLOf() != 30*time.Second || d.Clients != DefaultDNSClients ||
		d.Health.Interval != DefaultDNSInterval || d.Health.Fall != 2 || d.Health.Rise != 2 {
		t.Fatalf("dns defaults: %+v", d)
	}
	for i, want := range []int{0, 1, 1} {
		if got := s.SiteOfFault(s.Faults[i]); got != want {
			t.Errorf("fault %d is site %d's, want %d", i, got, want)
		}
	}
	us := s.AtSite(1)
	if us.SUT != s.Sites[1].SUT || us.HasSites() || len(us.Faults) != 2 || us.Faults[1].Site != "" {
		t.Fatalf("site us alone: sut %p, sites %v, faults %+v", us.SUT, us.Sites, us.Faults)
	}
	if p := s.SUTPath(1, "sut.proxy.kind"); p != "sites[1].sut.proxy.kind" {
		t.Fatalf("SUTPath: %s", p)
	}
}

// The clients are the regions' by their shares, interleaved: every run of
// consecutive clients holds them near their shares.
func TestClientRegionsInterleaveTheShares(t *testing.T) {
	s := &Scenario{Regions: []Region{{Name: "a", Share: 0.6}, {Name: "b", Share: 0.3}, {Name: "c", Share: 0.1}}}
	regions := s.ClientRegions(1000)
	for from := 0; from+10 <= len(regions); from += 10 {
		var count [3]int
		for _, r := range regions[from : from+10] {
			count[r]++
		}
		if count != [3]int{6, 3, 1} {
			t.Fatalf("clients %d–%d: %v of each region, want [6 3 1]", from, from+9, count)
		}
	}
}

func TestSitesValidation(t *testing.T) {
	const sites = `sites:
  - {name: eu, sut: {pools: [{backends: [{name: a}]}]}}
  - {name: us, sut: {pools: [{backends: [{name: b}]}]}}
`
	const workload = "workload: [{rate: 10/s}]\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string // each error, with its position
	}{
		{"sites and sut", sites + "sut: {pools: [{backends: [{name: c}]}]}\n" + workload,
			[]string{"s.yaml:4:6: sut: and sites: exclude each other"}},
		{"regions without sites", "sut: {pools: [{backends: [{name: a}]}]}\nregions: [{name: r, share: 100%, rtt: {}}]\ndns: {ttl: 5s}\n" + workload,
			[]string{"s.yaml:2:10: regions: places the clients of several sites; it needs sites:", "s.yaml:3:6: dns: balances between several sites; it needs sites:"}},
		{"a site without a name or a sut", "sites:\n  - {sut: {pools: [{backends: [{name: a}]}]}}\n  - {name: us}\n" + workload,
			[]string{"s.yaml:2:5: a site needs a name", `s.yaml:3:5: site "us" needs sut:`}},
		{"a site's own errors under it", "sites:\n  - name: eu\n    sut: {proxy: {strategy: nope}, pools: [{backends: [{name: a, workers: -1}]}]}\n" + workload,
			[]string{`s.yaml:3:29: unknown strategy "nope"`, "s.yaml:3:75: workers must be at least 1"}},
		{"names across sites", "sites:\n  - {name: eu, sut: {pools: [{name: app, backends: [{name: a}]}]}}\n  - {name: eu, sut: {pools: [{name: app, backends: [{name: a}]}]}}\n" + workload,
			[]string{`s.yaml:3:12: site name "eu" is used twice`, `s.yaml:3:37: pool name "app" is used at sites[0].sut.pools[0] too`, `s.yaml:3:60: backend name "a" is used at sites[0].sut.pools[0].backends[0] too`}},
		{"a call to another site's pool", "sites:\n  - {name: eu, sut: {pools: [{name: web, backends: [{name: a}], calls: [{pool: db}]}]}}\n  - {name: us, sut: {pools: [{name: db, backends: [{name: b}]}]}}\n" + workload,
			[]string{`s.yaml:2:80: unknown pool "db"; expected one of web`}},
		{"regions", sites + "regions:\n  - {name: r, share: 70%, rtt: {eu: 1ms, uss: 2ms}}\n  - {name: r, share: 0%, rtt: {eu: 1ms, us: 1ms}}\n" + workload,
			[]string{`s.yaml:5:47: unknown site "uss" (did you mean "us"?)`, `s.yaml:5:32: region "r" needs its round-trip time to site us`,
				`s.yaml:6:12: region name "r" is used twice`, "s.yaml:6:22: share must be more than 0% and at most 100%", "s.yaml:5:3: the regions' shares add up to 70%"}},
		{"dns", sites + "dns: {policy: closest, clients: -1, health: {fall: -1}}\n" + workload,
			[]string{`s.yaml:4:15: unknown dns policy "closest"`, "s.yaml:4:33: clients must be at least 1", "s.yaml:4:52: fall must be at least 1"}},
		{"site-down", sites + workload + "faults:\n  - {at: 1s, kind: site-down}\n  - {at: 1s, kind: site-down, site: ue, node: a}\n  - {at: 1s, kind: crash, node: a, site: eu}\n  - {at: 1s, kind: crash-proxy, node: proxy-1}\n",
			[]string{"s.yaml:6:5: site-down needs site: one of eu, us", `s.yaml:7:37: unknown site "ue"`, "s.yaml:7:47: site-down takes a whole site down",
				"s.yaml:8:42: site does not apply to kind: crash", "s.yaml:9:5: crash-proxy needs site: one of eu, us"}},
		{"site: with one sut", "sut: {pools: [{backends: [{name: a}]}]}\n" + workload + "faults: [{at: 1s, kind: site-down, site: eu}]\n",
			[]string{"s.yaml:3:42: site: names one of the sites: of a scenario that has them"}},
		{"failover without sites", "sut: {pools: [{backends: [{name: a}]}]}\n" + workload + "faults: [{at: 1s, kind: site-down}]\nrequirements: [failover_time < 40s, requests_lost < 10]\n",
			[]string{"s.yaml:4:16: failover_time is the DNS failover"}},
		{"failover without a site-down", sites + workload + "requirements: [failover_time < 40s, requests_lost < 10]\n",
			[]string{"s.yaml:5:16: failover_time is measured per site-down fault", "s.yaml:5:37: requests_lost is measured per site-down fault"}},
		{"no projection with sites", sites + workload + "requirements: [single_points_of_failure == 0]\n",
			[]string{"s.yaml:5:16: single_points_of_failure reads one topology, and this scenario has several"}},
	} {
		t.Run(tc.name, func(t *testing.T) { refuses(t, "s.yaml", tc.yaml, tc.want) })
	}
}

// refuses checks that yaml, parsed as file, is refused with each of want
// in its errors.
func refuses(t *testing.T, file, yaml string, want []string) {
	t.Helper()
	_, err := Parse(file, []byte(yaml))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
