package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
)

// TestProxyBalancesRealBackends runs `ilities proxy` in front of two real
// HTTP servers: round-robin alternates them, weight=3 gives one three
// answers in four, each answer names its upstream, and cancelling the
// command (its one cancellation path) ends it with exit 0.
func TestProxyBalancesRealBackends(t *testing.T) {
	var hits [2]atomic.Int64
	var urls [2]string
	for i := range 2 {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			fmt.Fprintf(w, "backend %d %s", i, r.URL.Path)
		}))
		t.Cleanup(s.Close)
		urls[i] = s.URL
	}
	for _, tc := range []struct {
		name string
		args []string
		want map[string]int // answers per upstream name, of 8
	}{
		{"round robin", []string{"--backend", urls[0] + ",name=a", "--backend", urls[1] + ",name=b", "--strategy", "round-robin"},
			map[string]int{"a": 4, "b": 4}},
		{"weighted from a file and a spec", []string{"--backends", upstreamFile(t, "# two\n"+urls[0]+" weight=3 name=a\n\n"+urls[1]+",name=b\n"),
			"--spec", "{strategy: weighted-round-robin, retries: 1}"},
			map[string]int{"a": 6, "b": 2}},
		{"round robin, a system call for each read and write (epoll)", []string{"--backend", urls[0] + ",name=a", "--backend", urls[1] + ",name=b", "--strategy", "round-robin", "--io", "epoll"},
			map[string]int{"a": 4, "b": 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr strings.Builder
			code := make(chan int, 1)
			go func() {
				code <- execute(ctx, append([]string{"proxy", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, tc.args...), &stdout, &stderr)
			}()
			client := &http.Client{Timeout: 5 * time.Second}
			got := map[string]int{}
			for i := 0; i < 8; i++ {
				resp, err := getWhenUp(client, base+"/items/7")
				if err != nil {
					t.Fatalf("GET through the proxy: %v (stderr %q)", err, stderr.String())
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.HasSuffix(string(body), " /items/7") {
					t.Fatalf("answer %d %q: want 200 with the request's path forwarded", resp.StatusCode, body)
				}
				got[resp.Header.Get(headers.Node)]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("answers per upstream %v, want %v", got, tc.want)
			}
			cancel()
			select {
			case c := <-code:
				if c != exitPass {
					t.Fatalf("exit %d after cancel, want 0; stderr %q", c, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10 s after its context ended")
			}
			if want := "proxying " + base + " to 2 upstreams"; !strings.HasPrefix(stdout.String(), want) {
				t.Errorf("stdout %q, want it to start %q", stdout.String(), want)
			}
			if !strings.Contains(stderr.String(), "/.ilities/stats") {
				t.Errorf("stderr does not name the statistics: %q", stderr.String())
			}
		})
	}
}

// getWhenUp retries a GET for up to 5 s while the listener is not up yet.
func getWhenUp(client *http.Client, url string) (*http.Response, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil || time.Now().After(deadline) {
			return resp, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func upstreamFile(t *testing.T, text string) string {
	file := filepath.Join(t.TempDir(), "upstreams.txt")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestProxyRefusesBadUpstreams: each mistake exits 2 with where it is and
// what was expected.
func TestProxyRefusesBadUpstreams(t *testing.T) {
	file := upstreamFile(t, "http://127.0.0.1:9001\n  http://127.0.0.1:9002 weight=zero\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no upstream"},
		{[]string{"--backend", "127.0.0.1:9001"}, "expected an upstream's URL"},
		{[]string{"--backend", "https://127.0.0.1:9001"}, "expected an http:// URL"},
		{[]string{"--backend", "http://127.0.0.1:9001/api"}, "the request's own path is forwarded"},
		{[]string{"--backend", "http://127.0.0.1:9001,color=red"}, "expected weight=N or name=NAME"},
		{[]string{"--backend", "http://127.0.0.1:9001", "--backend", "http://127.0.0.1:9001"}, "named twice"},
		{[]string{"--backends", file}, file + ":2:25: \"weight=zero\": expected a weight from 1 to 1000"},
		{[]string{"--backend", "http://127.0.0.1:9001", "--spec", "{strategy: fastest}"}, "proxy spec:1:12: unknown strategy \"fastest\""},
		{[]string{"--backend", "http://127.0.0.1:9001", "--spec", "{retries: 1,\n health: {intervall: 1s}}"}, "proxy spec:2:"},
		{[]string{"--backend", "http://127.0.0.1:9001", "--spec", "{kind: nginx}"}, "run nginx itself"},
		{[]string{"--backend", "http://127.0.0.1:9001", "--io", "kqueue"}, `io "kqueue" (or $ILITIES_PROXY_IO): expected "epoll" or "uring"`},
	} {
		var stdout, stderr strings.Builder
		code := execute(context.Background(), append([]string{"proxy"}, tc.args...), &stdout, &stderr)
		if code != exitInvalid || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("proxy %q: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr.String(), exitInvalid, tc.want)
		}
	}
}
