// Command ilities is a load generator and systemic-qualities benchmarking
// tool: it drives HTTP load at a system under test, injects faults, and
// checks non-functional requirements.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/runner"
)

// Exit codes, the CLI's contract with CI pipelines.
const (
	exitPass    = 0 // every requirement met
	exitFail    = 1 // a requirement failed
	exitInvalid = 2 // invalid input or usage
	exitRun     = 3 // the run itself could not be carried out (or was interrupted)
	// exitInternal: an internal error (a panic, recovered here or in any
	// goroutine by crash.Guard), never 2, which would blame the input.
	exitInternal = crash.ExitCode
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// cli is the process's whole life but the exit: signal handling, limits,
// the command.
func cli(args []string, stdout, stderr io.Writer) int {
	ctx, stop := withSignals(context.Background(), stderr)
	defer stop()
	// Every connection is a file: allow as many as the system lets us.
	if _, err := runner.RaiseOpenFileLimit(); err != nil {
		fmt.Fprintln(stderr, "ilities: warning: cannot raise the open-file limit:", err)
	}
	return execute(ctx, args, stdout, stderr)
}

// withSignals is the one cancellation path, from here to every goroutine
// of every phase (loading, validating, starting the SUT, running,
// writing): the first SIGINT or SIGTERM cancels the context, and the
// command stops and writes what it measured; a second ends the process at
// once, killed by that signal (or, where the signal was ignored when the
// process started, as a background job's SIGINT is, with 128 + its
// number), writing nothing.
func withSignals(parent context.Context, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer crash.Guard()
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "ilities: second signal: ending at once")
		signal.Reset(sig)
		if s, ok := sig.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), s)
			time.Sleep(100 * time.Millisecond) // the default handling ends the process
			os.Exit(128 + int(s))
		}
		os.Exit(exitRun)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// execute runs the command; a panic on this goroutine is an internal
// error (exit 4), as crash.Guard makes one on any other.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			crash.Report(stderr, r, debug.Stack())
			code = exitInternal
		}
	}()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitPass
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != errSilent {
			fmt.Fprintln(stderr, "ilities:", ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown flag, wrong argument count) are usage errors.
	fmt.Fprintln(stderr, "ilities:", err)
	return exitInvalid
}

// errSilent marks an exit whose reason was already printed.
var errSilent = errors.New("")

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ilities",
		Short:         "Load generator and systemic-qualities benchmark: performance, scalability, availability under load and failure",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	// A CPU profile of the tool itself, for finding where the generator or
	// the proxy spends its time; not part of the documented interface.
	var cpuProfile string
	var stopProfile func()
	root.PersistentFlags().StringSlice("allow-paths", nil, "a `DIR` the files a scenario names (body_file) may also be in, besides the scenario's folder (repeatable)")
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of this process to `FILE`")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return withCode(exitInvalid, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return withCode(exitInvalid, err)
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	root.PersistentPostRun = func(cmd *cobra.Command, args []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
	root.AddCommand(newRunCmd(), newValidateCmd(), newSimulateCmd())
	root.AddCommand(newMergeCmd(), newAttackCmd())
	root.AddCommand(newReportCmd(), newDiffCmd())
	root.AddCommand(newBackendCmd(), newServeCmd(), newProxyCmd())
	root.AddCommand(newCompareCmd(), newCapacityCmd())
	root.AddCommand(newCalibrateCmd())
	return root
}
