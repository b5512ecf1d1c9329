package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// server is a long-lived process tree the tools drive: the target, the
// backends or a proxy.
type server struct {
	cmd   *exec.Cmd
	addrs []string // host:port it listens on
}

func (s *server) pid() int    { return s.cmd.Process.Pid }
func (s *server) url() string { return "http://" + s.addrs[0] }

// stop ends the whole tree: the root first, so that it starts no new
// child (nginx's master would start a new worker), then what was under it.
func (s *server) stop(fs procfs) {
	under := tree(fs.processes(), s.pid())
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	for _, p := range under {
		if p.pid != s.pid() {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	// Until they are gone: a dying worker is nobody's noise in the next run.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		alive := false
		for _, p := range under {
			if p.pid != s.pid() && syscall.Kill(p.pid, 0) == nil {
				alive = true
			}
		}
		if !alive {
			return
		}
	}
}

// freeAddrs picks n free loopback ports.
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out, nil
}

// startServer runs cmd and waits until every address accepts.
func startServer(cmd *exec.Cmd, addrs []string, fs procfs) (*server, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, addrs: addrs}
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range addrs {
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				s.stop(fs)
				return nil, fmt.Errorf("%s did not listen on %s: %s", filepath.Base(cmd.Path), a, strings.TrimSpace(stderr.String()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s, nil
}

// The peers' tuned settings: no access log, a connection kept for a
// million requests, and as many workers or threads as asked.
const nginxCommon = `daemon off;
master_process on;
worker_processes %[2]d;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
%[3]s}
`

// startNginx runs nginx with workers worker processes and the http
// block's servers, in dir.
func startNginx(dir string, workers int, servers string, addrs []string, fs procfs) (*server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxCommon, dir, workers, servers), 0o644); err != nil {
		return nil, err
	}
	return startServer(exec.Command("nginx", "-c", conf, "-p", dir), addrs, fs)
}

// idlePath is the target's path that answers at most idleRate requests a
// second, the others queued (nginx's limit_req with a burst): the first
// request of each of many connections waits, so a generator whose users
// share a pool still opens one connection for each.
const (
	idlePath = "/idle"
	idleRate = 2000
)

// startOrigin serves a tiny "ok" on each of n ports from one nginx: the
// generators' target (n = 1) and the proxies' backends.
func startOrigin(dir string, workers, n int, fs procfs) (*server, error) {
	addrs, err := freeAddrs(n)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.txt"), []byte("ok"), 0o644); err != nil {
		return nil, err
	}
	var servers strings.Builder
	fmt.Fprintf(&servers, "  limit_req_zone $server_port zone=idle:1m rate=%dr/s;\n", idleRate)
	for _, a := range addrs {
		fmt.Fprintf(&servers, `  server {
    listen %s;
    location / { default_type text/plain; return 200 "ok"; }
    location = %s { limit_req zone=idle burst=1000000; default_type text/plain; root %s; try_files /ok.txt =404; }
  }
`, a, idlePath, dir)
	}
	return startNginx(dir, workers, servers.String(), addrs, fs)
}

// startNginxProxy runs nginx as a reverse proxy in front of backends,
// keeping its upstream connections alive; h2: HTTP/2 with prior knowledge
// on its front (nginx's cleartext http2 listener).
func startNginxProxy(dir string, workers int, h2 bool, backends []string, fs procfs) (*server, error) {
	addrs, err := freeAddrs(1)
	if err != nil {
		return nil, err
	}
	var up strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&up, "    server %s;\n", b)
	}
	servers := fmt.Sprintf(`  upstream app {
%s    keepalive 256;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen %s%s;
    http2_max_concurrent_streams 128;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
`, up.String(), addrs[0], map[bool]string{true: " http2"}[h2])
	return startNginx(dir, workers, servers, addrs, fs)
}

// startHAProxy runs HAProxy with threads threads in front of backends,
// keeping connections alive on both sides and sharing idle server
// connections between clients (http-reuse always), no logging.
// h2: HTTP/2 with prior knowledge on its front (proto h2).
func startHAProxy(dir string, threads int, h2 bool, backends []string, fs procfs) (*server, error) {
	return runHAProxy(dir, threads, `  mode http
  option http-keep-alive
  timeout http-keep-alive 300s
  http-reuse always
`, map[bool]string{true: " proto h2"}[h2], backends, fs)
}

// startHAProxyTCP runs HAProxy as a layer 4 forwarder (mode tcp): each
// client connection relayed byte for byte to a backend connection of its
// own, nothing parsed.
func startHAProxyTCP(dir string, threads int, backends []string, fs procfs) (*server, error) {
	return runHAProxy(dir, threads, "  mode tcp\n", "", backends, fs)
}

// runHAProxy runs HAProxy with the defaults section's mode lines, bind's
// options and backends balanced round robin.
func runHAProxy(dir string, threads int, mode, bindOpts string, backends []string, fs procfs) (*server, error) {
	addrs, err := freeAddrs(1)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var up strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&up, "  server s%d %s\n", i+1, b)
	}
	conf := fmt.Sprintf(`global
  nbthread %d
  maxconn 8192
defaults
%s  timeout connect 1s
  timeout client 300s
  timeout server 300s
frontend f
  bind %s%s
  default_backend app
backend app
  balance roundrobin
%s`, threads, mode, addrs[0], bindOpts, up.String())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return startServer(exec.Command("haproxy", "-db", "-f", path), addrs, fs)
}

// startIlitiesProxy runs `ilities proxy` with procs processors (GOMAXPROCS:
// one event loop each) in front of backends.
func startIlitiesProxy(bin string, procs int, backends []string, fs procfs) (*server, error) {
	addrs, err := freeAddrs(1)
	if err != nil {
		return nil, err
	}
	args := []string{"proxy", "--listen", addrs[0], "--strategy", "round-robin"}
	for _, b := range backends {
		args = append(args, "--backend", "http://"+b)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", procs))
	return startServer(cmd, addrs, fs)
}
