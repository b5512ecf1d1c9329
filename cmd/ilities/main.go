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
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/runner"
)

// Exit codes, the CLI's contract with CI pipelines.
const (
	exitPass    = 0 // every requirement met
	exitFail    = 1 // a requirement failed
	exitInvalid = 2 // invalid input or usage
	exitRun     = 3 // the run itself could not be carried out (or was interrupted)
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
	// One cancellation path: a signal-aware context from here to every goroutine.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal stops the run gracefully (results still written);
	// a second one, with the default handling restored, ends the process.
	go func() { <-ctx.Done(); stop() }()
	// Every connection is a file: allow as many as the system lets us.
	if _, err := runner.RaiseOpenFileLimit(); err != nil {
		fmt.Fprintln(stderr, "ilities: warning: cannot raise the open-file limit:", err)
	}
	code := execute(ctx, args, stdout, stderr)
	stop()
	return code
}

func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	root.AddCommand(newRunCmd(), newValidateCmd())
	root.AddCommand(newMergeCmd(), newAttackCmd())
	root.AddCommand(newReportCmd())
	root.AddCommand(newBackendCmd(), newServeCmd())
	root.AddCommand(newCompareCmd(), newCapacityCmd())
	return root
}
