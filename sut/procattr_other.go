//go:build !linux

package sut

import "syscall"

// childProcAttr puts a SUT child in its own process group (a terminal's
// Ctrl-C reaches only the generator, which stops the child). Outside Linux
// the kernel cannot kill a child with its parent; the child stops when its
// stdin closes, which the parent's end does.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
