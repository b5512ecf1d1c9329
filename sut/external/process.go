package external

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ilities/ilities/internal/crash"
)

// startTimeout bounds how long a started proxy may take to answer.
const startTimeout = 10 * time.Second

// Event is a change of a backend's availability as the real proxy saw it.
type Event struct {
	At       time.Time
	Pool     string
	Upstream string
	Healthy  bool
	Reason   string
}

// Proxy is a running nginx or HAProxy.
type Proxy struct {
	kind string
	dir  string
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	// watcher reads what the proxy did to each backend.
	watcher  watcher
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	closeErr error
}

// watcher follows one proxy's view of its backends.
type watcher interface {
	poll(now time.Time)
	events() []Event
	forwarded() map[string]int64
}

// sbinDirs are searched after PATH: Debian installs both proxies in
// /usr/sbin, which a non-root PATH often lacks.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// Binary finds kind's executable on PATH or in /usr/sbin, or says which
// Debian package provides it.
func Binary(kind string) (string, error) {
	pkg, ok := Packages[kind]
	if !ok {
		return "", fmt.Errorf("unknown proxy kind %q (expected %s or %s)", kind, Nginx, HAProxy)
	}
	if p, err := exec.LookPath(kind); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, kind)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed: install the Debian package %s (apt-get install %s)", kind, pkg, firstWord(pkg))
}

func firstWord(s string) string {
	for i := range s {
		if s[i] == ' ' {
			return s[:i]
		}
	}
	return s
}

// Start writes cfg's configuration into a new temporary directory, starts
// the proxy on 127.0.0.1 with a free port, and returns once it answers on
// HealthPath. On error nothing is left behind.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	bin, err := Binary(cfg.Kind)
	if err != nil {
		return nil, err
	}
	if len(cfg.Pools) == 0 {
		return nil, errors.New("external: no pools")
	}
	var lastErr error
	for range 3 { // a free port can be taken between probing and binding
		p, err := start(ctx, bin, cfg)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, bin string, cfg Config) (*Proxy, error) {
	dir, err := os.MkdirTemp("", "ilities-"+cfg.Kind+"-")
	if err != nil {
		return nil, err
	}
	// nginx's workers may run as another user: they must reach the logs.
	_ = os.Chmod(dir, 0o755)
	listen := cfg.Listen
	if host, port, err := net.SplitHostPort(listen); err != nil || port == "0" || port == "" {
		free, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if host == "" {
			host = "127.0.0.1"
		}
		listen = net.JoinHostPort(host, strconv.Itoa(free))
	}
	p := &Proxy{kind: cfg.Kind, dir: dir, url: "http://" + listen, done: make(chan struct{}), stop: make(chan struct{})}
	var text, file string
	var args []string
	switch cfg.Kind {
	case Nginx:
		text, err = NginxConfig(cfg, listen, dir)
		file = filepath.Join(dir, "nginx.conf")
		args = []string{"-p", dir, "-c", file, "-e", filepath.Join(dir, "error.log")}
		p.watcher = newNginxWatcher(filepath.Join(dir, "access.log"), cfg)
	case HAProxy:
		text, err = HAProxyConfig(cfg, listen, dir)
		file = filepath.Join(dir, "haproxy.cfg")
		args = []string{"-db", "-f", file}
		p.watcher = newHAProxyWatcher(filepath.Join(dir, "haproxy.sock"), cfg)
	}
	if err == nil {
		err = os.WriteFile(file, []byte(text), 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	out, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", cfg.Kind, err)
	}
	out.Close()
	p.cmd = cmd
	go func() {
		defer crash.Guard()
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := p.waitReady(ctx); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "output.log"))
		errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		_ = p.Close()
		return nil, fmt.Errorf("%s did not start: %w\n%s%s", cfg.Kind, err, tail(log), tail(errLog))
	}
	p.wg.Go(func() {
		defer crash.Guard()
		p.watch()
	})
	return p, nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls HealthPath until the proxy answers 200, it exits, or the
// start-up time is over.
func (p *Proxy) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+HealthPath, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return errors.New("the process exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// watchEvery is how often the proxy's view of its backends is read.
const watchEvery = 20 * time.Millisecond

func (p *Proxy) watch() {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.watcher.poll(time.Now())
			return
		case now := <-t.C:
			p.watcher.poll(now)
		}
	}
}

// Kind is Nginx or HAProxy.
func (p *Proxy) Kind() string { return p.kind }

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return p.url }

// Dir is the proxy's working directory (configuration, logs), removed by Close.
func (p *Proxy) Dir() string { return p.dir }

// Pid is the proxy's (master) process id.
func (p *Proxy) Pid() int { return p.cmd.Process.Pid }

// Events are the backends' availability changes the proxy made so far,
// oldest first. HAProxy: from its active checks (stats socket); nginx:
// reconstructed from its access log by its max_fails / fail_timeout rule.
func (p *Proxy) Events() []Event { return p.watcher.events() }

// Forwarded counts the attempts the proxy sent to each backend so far.
func (p *Proxy) Forwarded() map[string]int64 { return p.watcher.forwarded() }

// Close stops the proxy (gracefully, then by force after 3 s), waits for
// its process group to exit, and removes its directory.
func (p *Proxy) Close() error {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		if p.cmd != nil && p.cmd.Process != nil {
			pgid := p.cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(3 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-p.done
			}
			// Workers of a master killed by force leave with the group.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		p.closeErr = os.RemoveAll(p.dir)
	})
	return p.closeErr
}
