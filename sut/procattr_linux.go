package sut

import "syscall"

// childProcAttr puts a SUT child in its own process group, so that a
// terminal's Ctrl-C reaches only the generator, which stops the child when
// its run has ended (requests in flight get their grace); and it asks the
// kernel to kill the child if its parent dies, even by SIGKILL, so that no
// SUT outlives its run.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
