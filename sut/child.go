package sut

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/scenario"
)

// ChildSpec is what a child process needs to start the same built-in SUT
// as its parent: the seed (the backends' service times and the strategies
// derive from it) and the sut: section, defaults applied.
//
// It travels as JSON on the child's stdin rather than as the scenario's
// file path: the parent's scenario may differ from its file (--seed,
// --strategy, a workflow's variant, a scenario built in code), and the
// units' text forms read back to the same values (a test checks every
// example), so the child starts exactly the SUT the parent holds.
type ChildSpec struct {
	Seed int64         `json:"seed"`
	SUT  *scenario.SUT `json:"sut"`
}

// Scenario is a scenario holding just the spec, enough for Start.
func (c ChildSpec) Scenario() *scenario.Scenario {
	return &scenario.Scenario{Seed: c.Seed, SUT: c.SUT}
}

// maxChildSpec bounds the SUT a child reads from its parent.
const maxChildSpec = 64 << 20

// ReadChildSpec reads a ChildSpec written by StartChild.
func ReadChildSpec(r io.Reader) (ChildSpec, error) {
	var spec ChildSpec
	// The parent's SUT, however many backends it has, is far below this.
	if err := json.NewDecoder(io.LimitReader(r, maxChildSpec)).Decode(&spec); err != nil {
		return spec, fmt.Errorf("sut: reading the SUT from the parent: %w", err)
	}
	if spec.SUT == nil {
		return spec, errors.New("sut: the parent sent no sut")
	}
	return spec, nil
}

// ChildBanner is the first line a child writes on stdout once it serves:
// the proxy replicas' URLs, then "control" and the control API's URL.
func ChildBanner(urls []string, control string) string {
	return "serving " + strings.Join(urls, " ") + " control " + control
}

// controlOf finds the control URL in a ChildBanner.
func controlOf(banner string) (string, bool) {
	f := strings.Fields(banner)
	if len(f) < 4 || f[0] != "serving" || f[len(f)-2] != "control" {
		return "", false
	}
	return f[len(f)-1], true
}

const (
	// childStartTimeout bounds a child's start, up to its banner.
	childStartTimeout = 30 * time.Second
	// childStopGrace is how long a child has to stop after SIGTERM (its
	// topology's Close) before it is killed.
	childStopGrace = 5 * time.Second
	// stderrTail is how much of a child's stderr is kept for error messages.
	stderrTail = 4 << 10
)

// StartChild runs the built-in SUT of s in a child process: exe with args
// (and env, when not nil), which must read a ChildSpec from stdin, start
// that SUT with a control API on 127.0.0.1, write ChildBanner as its first
// line on stdout, and stop when stdin closes or on SIGTERM (ilities does
// this as `serve --from-parent --control 127.0.0.1:0`). ctx bounds the
// start only. The Remote's Close stops the child and reaps it.
//
// The child cannot outlive its parent: on Linux the kernel kills it when
// the parent dies, and everywhere its stdin closes then.
func StartChild(ctx context.Context, s *scenario.Scenario, exe string, args, env []string) (*Remote, error) {
	if s == nil || s.SUT == nil {
		return nil, errors.New("sut: the scenario has no built-in sut")
	}
	spec, err := json.Marshal(ChildSpec{Seed: s.Seed, SUT: s.SUT})
	if err != nil {
		return nil, fmt.Errorf("sut: encoding the SUT for the child: %w", err)
	}
	c, banner, err := startChild(ctx, exe, args, env, spec)
	if err != nil {
		return nil, err
	}
	control, ok := controlOf(banner)
	if !ok {
		return nil, errors.Join(fmt.Errorf("sut: the child's first line %q has no control URL", banner), c.stop())
	}
	dctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	r, err := Dial(dctx, control)
	if err != nil {
		return nil, errors.Join(err, c.stop())
	}
	r.child = c
	return r, nil
}

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	// exitedCtx is cancelled once the process has exited and been reaped;
	// waitErr is then how it ended.
	exitedCtx context.Context
	waitErr   error
	stopOnce  sync.Once
	stopErr   error
}

// startChild starts the process, sends it spec and waits for its first
// line on stdout.
func startChild(ctx context.Context, exe string, args, env []string, spec []byte) (*child, string, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	cmd.SysProcAttr = childProcAttr()
	c := &child{cmd: cmd, stderr: &tailBuffer{max: stderrTail}}
	cmd.Stderr = c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", fmt.Errorf("sut: child: %w", err)
	}
	// A pipe of our own, not StdoutPipe: Wait would close that one, maybe
	// before the first line is read.
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, "", fmt.Errorf("sut: child: %w", err)
	}
	cmd.Stdout = stdoutW
	c.stdin = stdin
	exited, markExited := context.WithCancel(context.Background())
	c.exitedCtx = exited
	started := make(chan error, 1)
	go func() {
		defer crash.Guard()
		// Pdeathsig fires when the thread that started the child ends,
		// not the process; the runtime ends threads (an event loop's,
		// locked to it, when the loop returns), so the child is started,
		// and waited for, on a thread kept for it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		stdoutW.Close() // the child holds its own copy
		if err != nil {
			started <- err
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		markExited()
	}()
	if err := <-started; err != nil {
		markExited()
		stdout.Close()
		return nil, "", fmt.Errorf("sut: starting the child %s: %w", exe, err)
	}
	if _, err := stdin.Write(append(spec, '\n')); err != nil {
		return nil, "", errors.Join(fmt.Errorf("sut: sending the SUT to the child: %w", err), c.stop())
	}
	// stdin stays open: its end tells the child to stop.

	line := make(chan string, 1)
	go func() {
		defer crash.Guard()
		defer stdout.Close()
		br := bufio.NewReader(stdout)
		s, _ := br.ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, br) // the child never blocks on a full pipe
	}()
	timer := time.NewTimer(childStartTimeout)
	defer timer.Stop()
	fail := func(why string) (*child, string, error) {
		err := c.stop()
		if err == nil {
			err = errors.New("sut: the SUT's child process " + why + c.stderr.suffix())
		}
		return nil, "", err
	}
	select {
	case s := <-line:
		if s == "" {
			return fail("ended its output before serving")
		}
		return c, s, nil
	case <-exited.Done():
		return fail("exited before serving")
	case <-ctx.Done():
		return nil, "", errors.Join(ctx.Err(), c.stop())
	case <-timer.C:
		return fail(fmt.Sprintf("did not start serving within %v", childStartTimeout))
	}
}

// ended says how the child ended, or nil while it runs.
func (c *child) ended() error {
	select {
	case <-c.exitedCtx.Done():
	case <-time.After(100 * time.Millisecond): // a call may fail just before the exit is reaped
		return nil
	}
	return c.endedNow()
}

// endedNow is ended without waiting for the exit to be reaped.
func (c *child) endedNow() error {
	select {
	case <-c.exitedCtx.Done():
	default:
		return nil
	}
	how := "exited"
	if c.waitErr != nil {
		how = "ended: " + c.waitErr.Error()
	}
	return fmt.Errorf("sut: the SUT's child process (pid %d) %s%s", c.cmd.Process.Pid, how, c.stderr.suffix())
}

// Pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop closes the child's stdin and sends it SIGTERM, kills it if it has
// not exited within childStopGrace, and returns once it is reaped. An
// unclean end the child had before stop is the error.
func (c *child) stop() error {
	c.stopOnce.Do(func() {
		select {
		case <-c.exitedCtx.Done():
			c.stopErr = c.ended() // it ended by itself
			return
		default:
		}
		_ = c.stdin.Close()
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(childStopGrace)
		defer t.Stop()
		select {
		case <-c.exitedCtx.Done():
			if c.waitErr != nil {
				c.stopErr = fmt.Errorf("sut: stopping the SUT's child process: %w%s", c.waitErr, c.stderr.suffix())
			}
		case <-t.C:
			_ = c.cmd.Process.Kill()
			<-c.exitedCtx.Done()
			c.stopErr = fmt.Errorf("sut: the SUT's child process did not stop within %v of SIGTERM and was killed", childStopGrace)
		}
	})
	return c.stopErr
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// suffix is ": " and the last lines written, or "".
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": " + s
}

// ChildPid is the pid of the child process a Remote runs in, 0 when
// StartChild did not start it.
func (r *Remote) ChildPid() int {
	if r.child == nil {
		return 0
	}
	return r.child.pid()
}
