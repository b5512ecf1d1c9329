package external

import "syscall"

// procAttr puts the proxy in its own process group, so Close can stop the
// master and its workers together, and asks the kernel to send it SIGTERM
// if ilities dies without closing it (even by SIGKILL), so no proxy
// outlives the run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
