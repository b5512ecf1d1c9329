package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ilities/ilities/report"
)

// openTerminal opens a pseudo-terminal and returns its terminal side: a
// real terminal for isTerminal, with no one reading it.
func openTerminal(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// The verdict words are coloured on a terminal alone: not in a pipe or a
// file, not with NO_COLOR set, not in another format than text.
func TestVerdictColouredOnATerminalOnly(t *testing.T) {
	tty := openTerminal(t)
	file, err := os.Create(t.TempDir() + "/out.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name, format, noColor string
		out                   io.Writer
		want                  bool
	}{
		{"terminal", "text", "", tty, true},
		{"terminal, NO_COLOR", "text", "1", tty, false},
		{"terminal, json", "json", "", tty, false},
		{"terminal, markdown", "markdown", "", tty, false},
		{"pipe", "text", "", &bytes.Buffer{}, false},
		{"file", "text", "", file, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			cmd := &cobra.Command{}
			cmd.SetOut(tc.out)
			render, err := formatRenderer(cmd, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			res := &report.Result{Verdict: report.VerdictPass}
			var b bytes.Buffer
			if err := render(&b, res); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(b.String(), "\x1b[32mPASS\x1b[0m"); got != tc.want {
				t.Errorf("coloured %v, want %v:\n%q", got, tc.want, b.String())
			}
			if !tc.want && strings.Contains(b.String(), "\x1b[") {
				t.Errorf("an escape where no colour belongs:\n%q", b.String())
			}
		})
	}
}
