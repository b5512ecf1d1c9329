package demoapp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The app tells a call with its own user's token from one with another
// user's token or none: what the CI example's test relies on.
func TestAppCountsWhoseTokenEachCallCarried(t *testing.T) {
	srv := httptest.NewServer(New(map[string]string{"ann": "a1", "bob": "b2"}))
	defer srv.Close()
	login := func(name, password string) (string, int) {
		resp, err := http.Post(srv.URL+"/login", "application/json", strings.NewReader(`{"name": "`+name+`", "password": "`+password+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var answer struct{ Token string }
		_ = json.NewDecoder(resp.Body).Decode(&answer)
		return answer.Token, resp.StatusCode
	}
	annToken, status := login("ann", "a1")
	if status != http.StatusOK || annToken == "" {
		t.Fatalf("login: status %d token %q", status, annToken)
	}
	if _, status := login("bob", "wrong"); status != http.StatusUnauthorized {
		t.Errorf("a wrong password answered %d", status)
	}
	calls := []struct {
		method, path, body, token string
		want                      int
	}{
		{"GET", "/users/ann/cart", "", annToken, http.StatusOK},
		{"POST", "/cart", `{"user": "ann", "item": "pen"}`, annToken, http.StatusCreated},
		{"GET", "/users/bob/cart", "", annToken, http.StatusForbidden},
		{"POST", "/cart", `{"user": "bob", "item": "pen"}`, annToken, http.StatusForbidden},
		{"GET", "/users/ann/cart", "", "", http.StatusUnauthorized},
	}
	for _, c := range calls {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s with token %q: %d, want %d", c.method, c.path, c.token, resp.StatusCode, c.want)
		}
	}
	var s Stats
	resp, err := http.Get(srv.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Calls != 5 || s.RightToken != 2 || s.WrongToken != 2 || s.NoToken != 1 || s.Logins["ann"] != 1 || s.FailedLogins != 1 {
		t.Errorf("stats %+v", s)
	}
}
