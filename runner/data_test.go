package runner

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ilities/ilities/scenario"
)

// loadScenario writes a scenario and its files into a fresh folder and
// loads it as the CLI does.
func loadScenario(t *testing.T, text string, files map[string]string) *scenario.Scenario {
	t.Helper()
	dir := t.TempDir()
	files["s.yaml"] = text
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := scenario.Load(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// sessionApp logs users in with a token in JSON, a header, a cookie and
// the body's text, and records what each later call carried.
type sessionApp struct {
	mu     sync.Mutex
	issued map[string]string // user -> the last token issued
	calls  []sessionCall
	logins int
	// omit leaves the token out of the login's JSON answer.
	omit bool
}

type sessionCall struct {
	user, path, query, auth, header, cookie, body string
	want                                          string // the token issued to user
}

func (a *sessionApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.URL.Path == "/login" {
		user := r.URL.Query().Get("user")
		a.logins++
		token := fmt.Sprintf("t%d-%s", a.logins, user)
		a.issued[user] = token
		w.Header().Set("X-Token", "h"+token)
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "c" + token})
		if a.omit {
			fmt.Fprintf(w, `{"auth": {}} order=r%s;`, token)
			return
		}
		fmt.Fprintf(w, `{"auth": {"token": %q}} order=r%s;`, token, token)
		return
	}
	user := strings.TrimPrefix(r.URL.Path, "/u/")
	c, _ := r.Cookie("sid")
	call := sessionCall{user: user, path: r.URL.EscapedPath(), query: r.URL.Query().Get("q"), auth: r.Header.Get("Authorization"),
		header: r.Header.Get("X-Echo"), body: string(body), want: a.issued[user]}
	if c != nil {
		call.cookie = c.Value
	}
	a.calls = append(a.calls, call)
}

const sessionScenario = `
duration: 600ms
target: {url: %s}
data:
  - {name: users, file: users.csv, order: unique, when_exhausted: stop}
workload:
  - model: closed
    users: 4
    uses: [users]
    think_time: {dist: constant, value: 20ms}
    session:
      - path: "/login?user={{users.name}}"
        extract:
          token: {json: auth.token}
          htoken: {header: X-Token}
          ctoken: {cookie: sid}
          rtoken: {regex: 'order=([^;]+);'}
      - method: POST
        path: "/u/{{users.name}}?q={{users.city}}"
        headers: {Authorization: "Bearer {{token}}", X-Echo: "{{htoken}} {{ctoken}}"}
        body: "{{rtoken}} {{user_id}}/{{iteration}}"
`

// Every virtual user logs in with its own row, takes its token from JSON,
// a header, a cookie and the body's text, and sends them in its later
// step's path, headers and body, on the lean client and on net/http.
func TestSessionStepsCarryRowsAndExtractedValues(t *testing.T) {
	for _, std := range []bool{false, true} {
		t.Run(fmt.Sprintf("net/http=%v", std), func(t *testing.T) {
			app := &sessionApp{issued: map[string]string{}}
			srv := httptest.NewServer(app)
			defer srv.Close()
			sc := loadScenario(t, fmt.Sprintf(sessionScenario, srv.URL), map[string]string{
				"users.csv": "name,city\nann,Paris\nbo b,Rio de Janeiro\ncy/d,a&b\ndee,x\ne,extra\n",
			})
			res := run(t, sc, Options{URL: srv.URL, forceStd: std})
			checkAccounting(t, res)
			if res.Totals.Failed != 0 || res.Totals.Succeeded == 0 {
				t.Fatalf("totals %+v errors %v", res.Totals, res.Errors)
			}
			app.mu.Lock()
			defer app.mu.Unlock()
			users := map[string]bool{}
			for _, c := range app.calls {
				users[c.user] = true
				esc := strings.NewReplacer("/", "%2F", " ", "%20").Replace(c.user)
				if c.want == "" || c.auth != "Bearer "+c.want || c.header != "h"+c.want+" c"+c.want || c.cookie != "c"+c.want ||
					!strings.HasPrefix(c.body, "r"+c.want+" ") || c.path != "/u/"+esc {
					t.Errorf("call %+v", c)
				}
				if !regexp.MustCompile(`^r.+ [1-4]/[0-9]+$`).MatchString(c.body) {
					t.Errorf("body %q, want the token, the user's number and its iteration", c.body)
				}
			}
			if len(users) != 4 || users["e"] {
				t.Errorf("users seen %v, want the first four rows, one each", users)
			}
			if len(app.calls) == 0 || app.calls[0].query == "" {
				t.Errorf("query values lost: %+v", app.calls)
			}
		})
	}
}

// A login whose answer lacks the token fails as unexpected_body, and the
// session's later step is not sent.
func TestFailedExtractionIsUnexpectedBody(t *testing.T) {
	app := &sessionApp{issued: map[string]string{}, omit: true}
	srv := httptest.NewServer(app)
	defer srv.Close()
	sc := loadScenario(t, fmt.Sprintf(sessionScenario, srv.URL), map[string]string{"users.csv": "name,city\nann,Paris\n"})
	sc.Workload[0].Users = 1
	res := run(t, sc, Options{URL: srv.URL})
	checkAccounting(t, res)
	app.mu.Lock()
	defer app.mu.Unlock()
	if res.Totals.Succeeded != 0 || res.Errors[ClassUnexpectedBody] != int64(app.logins) || app.logins == 0 || len(app.calls) != 0 {
		t.Errorf("totals %+v errors %v; %d logins, %d later calls", res.Totals, res.Errors, app.logins, len(app.calls))
	}
}

// expect: json and headers checks, on an open workload.
func TestExpectJSONAndHeaderChecks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"user": {"name": "ann", "age": 42, "admin": false}, "items": [1, 2]}`)
	}))
	defer srv.Close()
	cases := []struct {
		expect string
		ok     bool
	}{
		{`{json: [{path: user.name, equals: ann}]}`, true},
		{`{json: [{path: user.name, equals: bob}]}`, false},
		{`{json: [{path: user.age, equals: "42.0"}]}`, true},
		{`{json: [{path: user.age, equals: 42}]}`, true},
		{`{json: [{path: user.admin, equals: false}]}`, true},
		{`{json: [{path: user.admin, equals: "false"}]}`, true},
		{`{json: [{path: items.#, equals: "2"}]}`, true},
		{`{json: [{path: user.email, exists: false}]}`, true},
		{`{json: [{path: user.email, exists: true}]}`, false},
		{`{headers: {Content-Type: application/json}}`, true},
		{`{headers: {content-type: text/html}}`, false},
		{`{headers: {X-Missing: ""}}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.expect, func(t *testing.T) {
			sc := loadScenario(t, fmt.Sprintf("duration: 200ms\ntarget: {url: %s}\nworkload: [{rate: 20/s, expect: %s}]\n", srv.URL, tc.expect), map[string]string{})
			res := run(t, sc, Options{URL: srv.URL})
			checkAccounting(t, res)
			sent := res.Totals.Succeeded + res.Totals.Failed
			if sent == 0 || (tc.ok && res.Totals.Failed != 0) || (!tc.ok && res.Errors[ClassUnexpectedBody] != sent) {
				t.Errorf("totals %+v errors %v, want every response to pass: %v", res.Totals, res.Errors, tc.ok)
			}
		})
	}
}

// An open workload whose source stops sends one arrival per row; the rest
// are counted as not sent for want of data, neither failures nor dropped.
func TestExhaustedSourceStopsAnOpenWorkload(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
	}))
	defer srv.Close()
	sc := loadScenario(t, fmt.Sprintf(`
duration: 1s
target: {url: %s}
data: [{name: ids, file: ids.jsonl, when_exhausted: stop}]
workload: [{rate: 40/s, uses: [ids], requests: [{path: "/item/{{ids.id}}"}]}]
`, srv.URL), map[string]string{"ids.jsonl": "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n{\"id\": 4}\n{\"id\": 5}\n"})
	res := run(t, sc, Options{URL: srv.URL})
	checkAccounting(t, res)
	tot := res.Totals
	if tot.Scheduled != 40 || tot.Succeeded != 5 || tot.Exhausted != 35 || tot.Failed+tot.Dropped != 0 || tot.Offered() != 5 {
		t.Errorf("totals %+v", tot)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= 5; i++ {
		if seen[fmt.Sprintf("/item/%d", i)] != 1 {
			t.Errorf("requests per path %v, want /item/1 to /item/5 once each", seen)
			break
		}
	}
}

// DataCursors count rows as Run does: every workload draws from one
// cursor per source, an open arrival or a user's iteration one row of
// each source it uses; with order unique a user's row is its own for the
// run, numbered after the users of the workloads before it.
func TestDataCursorsCountAsRunDoes(t *testing.T) {
	sc := loadScenario(t, `
duration: 1s
target: {url: "http://127.0.0.1:1"}
data:
  - {name: shared, file: rows.csv, when_exhausted: stop}
  - {name: own, file: rows.csv, order: unique, when_exhausted: stop}
workload:
  - {rate: 10/s, uses: [shared]}
  - {model: closed, users: 2, uses: [shared]}
  - {model: closed, users: 2, uses: [own]}
  - {model: closed, users: 4, uses: [own]}
  - {rate: 10/s}
`, map[string]string{"rows.csv": "n\n1\n2\n3\n4\n5\n"})
	d := NewDataCursors(sc)
	var drew strings.Builder
	mark := func(ok bool) {
		drew.WriteString(map[bool]string{true: "+", false: "-"}[ok])
	}
	users := []*DataUser{d.User(1, 0), d.User(1, 1)}
	for range 2 { // five rows for six draws, open and closed alike
		mark(d.NextArrival(0))
		mark(users[0].NextIteration())
		mark(users[1].NextIteration())
	}
	drew.WriteString(" ")
	for w, n := range []int{2: 2, 3: 4} { // rows 1-2, then 3-5: the last user has none
		for u := range n {
			mark(d.User(w, u).NextIteration())
		}
	}
	drew.WriteString(" ")
	mark(d.NextArrival(4))
	mark(d.User(4, 0).NextIteration()) // no source: never runs out
	if got, want := drew.String(), "+++++- +++++- ++"; got != want {
		t.Errorf("drew %q, want %q", got, want)
	}
}

func TestDataSetOrders(t *testing.T) {
	rows := [][]string{{"a"}, {"b"}, {"c"}}
	cases := []struct {
		order string
		stop  bool
		want  string // the rows drawn, "-" for none
	}{
		{scenario.OrderSequential, false, "abcabca"},
		{scenario.OrderSequential, true, "abc----"},
		{scenario.OrderUnique, true, "abc----"},
	}
	for _, tc := range cases {
		d := &dataSet{rows: rows, order: tc.order, stop: tc.stop}
		var got strings.Builder
		for range 7 {
			row, ok := d.draw(0)
			if !ok {
				got.WriteString("-")
				continue
			}
			got.WriteString(row[0])
		}
		if got.String() != tc.want {
			t.Errorf("%s stop=%v: drew %s, want %s", tc.order, tc.stop, got.String(), tc.want)
		}
	}
	// Random follows its random numbers only: the same seed, the same rows.
	draws := func(seed uint64) string {
		d := &dataSet{rows: rows, order: scenario.OrderRandom, stop: true}
		rng := rand.New(rand.NewPCG(seed, 1))
		var b strings.Builder
		for range 30 {
			row, _ := d.draw(rng.Uint64())
			b.WriteString(row[0])
		}
		return b.String()
	}
	if a, b := draws(1), draws(1); a != b || strings.Count(a, "a") == 30 || !strings.Contains(a, "c") {
		t.Errorf("random draws %s and %s", a, b)
	}
}

func TestRenderingEscapesWhereTheValueLands(t *testing.T) {
	u := &userData{rows: [][]string{{"a b/c?d&e", "x\r\nEvil: 1"}}, vars: []string{"v"}, userID: 3, iteration: 9, rng: rand.New(rand.NewPCG(1, 2))}
	tmpl := func(parts ...scenario.TemplatePart) *scenario.Template { return &scenario.Template{Parts: parts} }
	lit := func(s string) scenario.TemplatePart {
		return scenario.TemplatePart{Kind: scenario.TemplateLiteral, Text: s}
	}
	field := func(j int, q bool) scenario.TemplatePart {
		return scenario.TemplatePart{Kind: scenario.TemplateField, Field: j, InQuery: q}
	}
	cases := []struct {
		t    *scenario.Template
		esc  escaping
		want string
	}{
		{tmpl(lit("/u/"), field(0, false), lit("?q="), field(0, true)), escapePath, "/u/a%20b%2Fc%3Fd&e?q=a+b%2Fc%3Fd%26e"},
		{tmpl(lit("X "), field(1, false)), escapeHeader, "X xEvil: 1"},
		{tmpl(field(1, false)), escapeNone, "x\r\nEvil: 1"},
		{tmpl(scenario.TemplatePart{Kind: scenario.TemplateVariable}, lit("-"), scenario.TemplatePart{Kind: scenario.TemplateUserID},
			lit("-"), scenario.TemplatePart{Kind: scenario.TemplateIteration}), escapeNone, "v-3-9"},
	}
	for _, tc := range cases {
		if got := string(u.appendTemplate([]byte(">"), tc.t, tc.esc)); got != ">"+tc.want {
			t.Errorf("rendered %q, want %q", got, ">"+tc.want)
		}
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[int64]bool{}
	for range 200 {
		if id := string(u.appendValue(nil, &scenario.TemplatePart{Kind: scenario.TemplateUUID})); !uuid.MatchString(id) {
			t.Fatalf("uuid %q", id)
		}
		var n int64
		fmt.Sscan(string(u.appendValue(nil, &scenario.TemplatePart{Kind: scenario.TemplateRandom, Min: -2, Max: 2})), &n)
		seen[n] = true
	}
	if len(seen) != 5 || !seen[-2] || !seen[2] {
		t.Errorf("random -2..2 gave %v", seen)
	}
}

// A templated request renders the very head and body that the same
// request written out literally is serialised into once.
func TestRenderedHeadMatchesTheLiteralOne(t *testing.T) {
	targets := []*target{{base: mustURL(t, "http://127.0.0.1:9/api/"), lean: true, keepAlive: false}}
	literal, _ := newRequest(&scenario.Scenario{}, scenario.Request{Method: "POST", Path: "/u/ann?x=1",
		Headers: map[string]string{"X-Who": "ann", "Accept": "*/*"}, Body: `{"n": "ann"}`}, scenario.Expect{}, "ilities/dev")
	if err := literal.prepare(targets); err != nil {
		t.Fatal(err)
	}
	want := "POST /api/u/ann?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAccept: */*\r\nUser-Agent: ilities/dev\r\nX-Who: ann\r\n" +
		"Content-Length: 12\r\nConnection: close\r\n"
	if string(literal.wire[0]) != want {
		t.Fatalf("literal head %q, want %q", literal.wire[0], want)
	}

	field := scenario.TemplatePart{Kind: scenario.TemplateField}
	lit := func(s string) scenario.TemplatePart {
		return scenario.TemplatePart{Kind: scenario.TemplateLiteral, Text: s}
	}
	spec := scenario.Request{Method: "POST", Path: "/u/{{users.name}}?x=1",
		Headers: map[string]string{"X-Who": "{{users.name}}", "Accept": "*/*"}, Body: `{"n": "{{users.name}}"}`,
		Templates: &scenario.RequestTemplates{
			Path:    &scenario.Template{Parts: []scenario.TemplatePart{lit("/u/"), field, lit("?x=1")}},
			Headers: []scenario.HeaderTemplate{{Name: "X-Who", Value: &scenario.Template{Parts: []scenario.TemplatePart{field}}}},
			Body:    &scenario.Template{Parts: []scenario.TemplatePart{lit(`{"n": "`), field, lit(`"}`)}},
		}}
	templ, _ := newRequest(&scenario.Scenario{}, spec, scenario.Expect{}, "ilities/dev")
	if err := templ.prepare(targets); err != nil {
		t.Fatal(err)
	}
	u := newUserState(0, false)
	u.data = &userData{rows: [][]string{{"ann"}}}
	r := templ.rendered(0, u, true, false)
	// The templated header comes after the literal ones; the rest is alike.
	wantRendered := strings.Replace(want, "X-Who: ann\r\n", "", 1)
	wantRendered = strings.Replace(wantRendered, "Content-Length", "X-Who: ann\r\nContent-Length", 1)
	if string(r.wire[0]) != wantRendered || string(r.body) != string(literal.body) {
		t.Errorf("rendered head %q body %q, want %q and %q", r.wire[0], r.body, wantRendered, literal.body)
	}
	if templ.wire[0] != nil || r == templ {
		t.Error("rendering wrote into the shared request")
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
