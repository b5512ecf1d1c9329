package health

import (
	"fmt"
	"time"
)

// Check counts the result of one active check: Fall failures in a row take
// the upstream out, Rise passes in a row bring it back. why says what
// failed (a connection error, a status).
func (u *Upstream) Check(passed bool, why string, now time.Time) (Change, bool) {
	reason := "active check"
	if passed {
		u.fall = 0
		u.rise++
		if u.activeDown && u.rise >= u.rules.Rise {
			u.activeDown = false
			reason = fmt.Sprintf("active check: %d passed", u.rise)
		}
	} else {
		u.rise = 0
		u.fall++
		if !u.activeDown && u.fall >= u.rules.Fall {
			u.activeDown = true
			reason = fmt.Sprintf("active check: %d failed (%s)", u.fall, why)
		}
	}
	return u.publish(reason, now)
}

// ActiveDown reports whether active checks hold the upstream out.
func (u *Upstream) ActiveDown() bool { return u.activeDown }
