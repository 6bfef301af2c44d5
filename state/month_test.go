package state

import (
	"testing"
	"time"
)

func TestQuotaMonth(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		at         string
		key        string
		start, end string
	}{
		{"2026-11-30T23:59:59.999999999Z", "2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
		{"2026-12-01T00:00:00Z", "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"2026-12-31T23:59:59.9Z", "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"2027-01-01T00:00:00.1Z", "2027-01", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"},
		// Adding a month to the 31st would overflow into March.
		{"2026-01-31T10:00:00Z", "2026-01", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"},
		{"2027-02-28T23:59:59.9Z", "2027-02", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"},
		{"2028-02-29T23:59:59.9Z", "2028-02", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"},
		{"2028-03-01T00:00:00Z", "2028-03", "2028-03-01T00:00:00Z", "2028-04-01T00:00:00Z"},
		// Months are UTC whatever the zone the time is read in.
		{"2026-12-01T00:30:00+01:00", "2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
		{"2026-11-30T23:30:00-05:00", "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.at, func(t *testing.T) {
			at := utc(tc.at)
			start, end := MonthStart(at), MonthEnd(at)
			if got := MonthKey(at); got != tc.key {
				t.Errorf("MonthKey = %s, want %s", got, tc.key)
			}
			if !start.Equal(utc(tc.start)) || start.Location() != time.UTC {
				t.Errorf("MonthStart = %s, want %s", start, tc.start)
			}
			if !end.Equal(utc(tc.end)) || end.Location() != time.UTC {
				t.Errorf("MonthEnd = %s, want %s", end, tc.end)
			}
			// The month is [start, end): its first and last instants are
			// in it, the instants either side are not.
			if start.After(at) || !end.After(at) || MonthKey(start) != tc.key || MonthKey(end.Add(-time.Nanosecond)) != tc.key ||
				MonthKey(start.Add(-time.Nanosecond)) == tc.key || MonthKey(end) == tc.key {
				t.Errorf("%s is not the month [%s, %s)", tc.key, start, end)
			}
		})
	}
}
