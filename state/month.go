package state

import "time"

// Quota months are calendar months in UTC (MonthKey names them). A
// model call's tokens count in the month of its usage record's time,
// which is when the call ended: a call that begins before midnight at the
// end of a month and ends after it is billed to the new month, like
// everything else the new month's quota sees.

// MonthStart is the first instant (UTC) of t's quota month.
func MonthStart(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// MonthEnd is the first instant (UTC) of the month after t's: when t's
// quota resets. The quota month of t is [MonthStart(t), MonthEnd(t)).
func MonthEnd(t time.Time) time.Time {
	// Adding a month to the 1st never overflows into the month after.
	return MonthStart(t).AddDate(0, 1, 0)
}
