package caddymodule

import "time"

// SetClock replaces the admission clock for the tests of this directory
// and returns a function restoring it.
func SetClock(f func() time.Time) (restore func()) {
	old := now
	now = f
	return func() { now = old }
}
