//go:build !linux

package runner

// eventLoop is Linux's alone (see evloop_linux.go): elsewhere every
// open-loop workload runs on workers and every virtual user on a goroutine.
type eventLoop struct{}

func newEventLoop(*engine, *workloadRun, *recorder) *eventLoop { return nil }
func (*eventLoop) run()                                        {}
func (*eventLoop) abort()                                      {}
func (*eventLoop) sampleHiccups(*hiccupFeed)                   {}
func (*eventLoop) addUser(int, []Span)                         {}

func holdProcs(int) func() { return func() {} }
