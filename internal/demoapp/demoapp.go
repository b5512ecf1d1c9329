// Package demoapp is a small service with a login, the target of the
// "Gate your own service in CI" example and of the end-to-end test of data
// sources, templates and correlation: POST /login answers a token, every
// other call needs it as a bearer token, and the app counts, call by call,
// whether the token belongs to the user the call names.
package demoapp

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// App is the service. Its zero value is not usable: see New.
type App struct {
	passwords map[string]string // user -> password
	mux       *http.ServeMux

	mu     sync.Mutex
	tokens map[string]string // token -> user
	stats  Stats
}

// Stats is what the app saw.
type Stats struct {
	// Logins counts successful logins per user.
	Logins map[string]int `json:"logins"`
	// FailedLogins counts logins with an unknown user or a wrong password.
	FailedLogins int `json:"failed_logins"`
	// Calls counts calls other than logins; RightToken those whose token
	// belongs to the user the call names, WrongToken those whose token
	// belongs to another user, NoToken those without a known token.
	Calls      int `json:"calls"`
	RightToken int `json:"right_token"`
	WrongToken int `json:"wrong_token"`
	NoToken    int `json:"no_token"`
}

// New returns the app for users (name -> password).
func New(users map[string]string) *App {
	a := &App{passwords: users, tokens: map[string]string{}, stats: Stats{Logins: map[string]int{}}}
	a.mux = http.NewServeMux()
	a.mux.HandleFunc("POST /login", a.login)
	a.mux.HandleFunc("GET /users/{name}/cart", a.cart)
	a.mux.HandleFunc("POST /cart", a.addToCart)
	a.mux.HandleFunc("GET /stats", a.serveStats)
	return a
}

func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Stats returns a copy of what the app saw so far.
func (a *App) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Logins = make(map[string]int, len(a.stats.Logins))
	for k, v := range a.stats.Logins {
		s.Logins[k] = v
	}
	return s
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&c); err != nil {
		http.Error(w, `{"error": "expected {\"name\": ..., \"password\": ...}"}`, http.StatusBadRequest)
		return
	}
	want, ok := a.passwords[c.Name]
	if !ok || want != c.Password {
		a.mu.Lock()
		a.stats.FailedLogins++
		a.mu.Unlock()
		http.Error(w, `{"error": "unknown user or wrong password"}`, http.StatusUnauthorized)
		return
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	a.mu.Lock()
	a.tokens[token] = c.Name
	a.stats.Logins[c.Name]++
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"token": token, "user": c.Name})
}

func (a *App) cart(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !a.authorized(w, r, name) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": name, "items": []string{}})
}

func (a *App) addToCart(w http.ResponseWriter, r *http.Request) {
	var item struct {
		User string `json:"user"`
		Item string `json:"item"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&item); err != nil || item.User == "" {
		http.Error(w, `{"error": "expected {\"user\": ..., \"item\": ...}"}`, http.StatusBadRequest)
		return
	}
	if !a.authorized(w, r, item.User) {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"user": item.User, "added": item.Item})
}

// authorized records whether the call's bearer token belongs to user, and
// answers 401 (no known token) or 403 (another user's) when it does not.
func (a *App) authorized(w http.ResponseWriter, r *http.Request, user string) bool {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.mu.Lock()
	owner, known := a.tokens[token]
	a.stats.Calls++
	switch {
	case !known:
		a.stats.NoToken++
	case owner != user:
		a.stats.WrongToken++
	default:
		a.stats.RightToken++
	}
	a.mu.Unlock()
	switch {
	case !known:
		http.Error(w, `{"error": "log in first"}`, http.StatusUnauthorized)
		return false
	case owner != user:
		http.Error(w, `{"error": "this token belongs to another user"}`, http.StatusForbidden)
		return false
	}
	return true
}

func (a *App) serveStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.Stats())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ReadUsers reads a CSV file whose header names the fields name and
// password, one user a row.
func ReadUsers(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: expected a header row and one row per user", path)
	}
	nameCol, passwordCol := -1, -1
	for i, h := range rows[0] {
		switch strings.TrimSpace(h) {
		case "name":
			nameCol = i
		case "password":
			passwordCol = i
		}
	}
	if nameCol < 0 || passwordCol < 0 {
		return nil, fmt.Errorf("%s: the header row must name the fields name and password", path)
	}
	users := map[string]string{}
	for _, row := range rows[1:] {
		users[row[nameCol]] = row[passwordCol]
	}
	return users, nil
}
