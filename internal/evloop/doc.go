// Package evloop is the system-call plumbing of the tool's epoll event
// loops: the load generator's (runner) and the built-in proxy's
// (sut/proxy). What each loop does with its connections is its own; how it
// waits, wakes, registers descriptors and moves bytes is here, once.
//
//   - Poller: an epoll instance and an eventfd that wakes it from other
//     goroutines; waits to the nanosecond (epoll_pwait2) or to the
//     millisecond (epoll_pwait, every kernel), issued as raw system calls.
//     Sleeper: a timed wait its Poller's Wake ends and sockets do not.
//   - LockThread: a loop's thread, locked for good, with its timer slack.
//   - Table and Tag: a loop's connections by slot, every registration
//     tagged with the slot's generation, so that an event queued for a
//     connection since closed is dropped, in Table.Event, rather than
//     handed to the connection that reused its slot or descriptor number.
//   - Socket helpers: non-blocking sockets, connect and accept, reads and
//     writes that stop at EAGAIN, reads with the kernel's receive time.
//   - Ring: an io_uring instance as a batch of socket system calls, the
//     sends and receives of many sockets in one io_uring_enter, each done
//     at once or reporting EAGAIN, so none outlives the call (the proxy's
//     loops with IO "uring").
//
// A loop waits in a raw system call, so the runtime counts its goroutine as
// running: see package procs for the processor each loop holds. The
// package is Linux's; elsewhere it is empty, as the loops are.
package evloop
