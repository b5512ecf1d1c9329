package scenario

import "time"

// Duration is a time.Duration written in YAML as "250ms", "1.5s", "2m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Rate is an arrival rate in requests per second, written "800/s",
// "48000/min", "2/ms" or as a bare number (per second).
type Rate float64

// PerSecond returns the rate in requests per second.
func (r Rate) PerSecond() float64 { return float64(r) }

// Percent is a fraction in [0,1], written "99.9%" or as a bare fraction (0.999).
type Percent float64

// Fraction returns the value as a fraction in [0,1].
func (p Percent) Fraction() float64 { return float64(p) }
