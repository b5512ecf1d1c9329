package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/sut/backend"
)

// TestBackendCommand runs "ilities backend" in-process on a free port and
// talks to it: one request, then the stats endpoint.
func TestBackendCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	var stdout, stderr strings.Builder
	go func() {
		code <- execute(ctx, []string{"backend", "--name", "app-9", "--listen", addr, "--workers", "3",
			"--spec", "{service_time: {dist: constant, value: 1ms}, sessions: true}"}, &stdout, &stderr)
	}()
	base := "http://" + addr
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err = http.Get(base + "/")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("backend not serving: %v (stderr %q)", err, stderr.String())
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(headers.Node) != "app-9" || len(resp.Cookies()) != 1 {
		t.Fatalf("answer %d %q cookies %v", resp.StatusCode, resp.Header.Get(headers.Node), resp.Cookies())
	}
	resp, err = http.Get(base + backend.ControlPath + "stats")
	if err != nil {
		t.Fatal(err)
	}
	var st backend.Stats
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Name != "app-9" || st.Workers != 3 || st.Served != 1 || st.SessionsCreated != 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d, stderr %q", c, stderr.String())
	}
}

func TestBackendCommandRejectsABadSpec(t *testing.T) {
	var stdout, stderr strings.Builder
	c := execute(context.Background(), []string{"backend", "--spec", "{workers: 2, service_time: {dist: expo}}"}, &stdout, &stderr)
	if c != exitInvalid || !strings.Contains(stderr.String(), "exponential") {
		t.Fatalf("exit %d, stderr %q", c, stderr.String())
	}
}
