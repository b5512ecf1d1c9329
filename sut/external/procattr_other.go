//go:build !linux

package external

import "syscall"

// procAttr puts the proxy in its own process group, so Close can stop the
// master and its workers together.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
