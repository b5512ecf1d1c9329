//go:build !linux

package hrtimer

// timerFD is absent elsewhere than Linux: Sleep uses the runtime's timers.
type timerFD struct{}

func (t *timerFD) open() bool        { return false }
func (t *timerFD) set(ns int64) bool { return false }
func (t *timerFD) wait() bool        { return false }
func (t *timerFD) close()            {}
