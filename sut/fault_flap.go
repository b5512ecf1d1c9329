package sut

import (
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/scenario"
)

// flap: the backend crashes, restarts half a period later, runs for half a
// period, crashes again, and so on until lifted; lifted, it is restarted if
// it was down.
func init() {
	registerFault("flap", func(t *Topology, f scenario.Fault) (Lift, error) {
		b, err := t.target(f)
		if err != nil {
			return nil, err
		}
		half := f.Period.D() / 2
		stop, done := make(chan struct{}), make(chan struct{})
		b.Crash()
		go func() {
			defer crash.Guard()
			defer close(done)
			timer := time.NewTimer(half)
			defer timer.Stop()
			for down := true; ; down = !down {
				select {
				case <-stop:
					return
				case <-timer.C:
				}
				if down {
					_ = b.Restart()
				} else {
					b.Crash()
				}
				timer.Reset(half)
			}
		}()
		return func() error {
			close(stop)
			<-done
			if b.Down() {
				return b.Restart()
			}
			return nil
		}, nil
	})
}
