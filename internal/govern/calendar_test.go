package govern

import (
	"testing"
	"time"
	// Embedded zone data: the test means the same on a machine without
	// /usr/share/zoneinfo (LoadLocation still prefers the system's).
	_ "time/tzdata"

	"github.com/stretchr/testify/require"
)

func loadLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCalendarDay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		zone       string // "" means a nil Loc
		now        string
		id         string
		start, end string // UTC
		hours      float64
	}{
		{"UTCLastNanosecond", "", "2026-11-27T23:59:59.999999999Z", "2026-11-27", "2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z", 24},
		{"UTCMidnight", "", "2026-11-28T00:00:00Z", "2026-11-28", "2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z", 24},
		{"NewYorkBeforeMidnight", "America/New_York", "2026-11-28T04:59:59Z", "2026-11-27", "2026-11-27T05:00:00Z", "2026-11-28T05:00:00Z", 24},
		{"NewYorkMidnight", "America/New_York", "2026-11-28T05:00:00Z", "2026-11-28", "2026-11-28T05:00:00Z", "2026-11-29T05:00:00Z", 24},
		{"KolkataBeforeMidnight", "Asia/Kolkata", "2026-11-27T18:29:59Z", "2026-11-27", "2026-11-26T18:30:00Z", "2026-11-27T18:30:00Z", 24},
		{"KolkataMidnight", "Asia/Kolkata", "2026-11-27T18:30:00Z", "2026-11-28", "2026-11-27T18:30:00Z", "2026-11-28T18:30:00Z", 24},
		{"NewYorkSpringForward", "America/New_York", "2026-03-08T12:00:00Z", "2026-03-08", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z", 23},
		{"NewYorkFallBack", "America/New_York", "2026-11-01T12:00:00Z", "2026-11-01", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z", 25},
		{"LondonSpringForward", "Europe/London", "2026-03-29T12:00:00Z", "2026-03-29", "2026-03-29T00:00:00Z", "2026-03-29T23:00:00Z", 23},
		// Chile skips midnight: 2024-09-08 begins at 01:00 -03.
		{"SantiagoBeforeSkippedMidnight", "America/Santiago", "2024-09-08T03:30:00Z", "2024-09-07", "2024-09-07T04:00:00Z", "2024-09-08T04:00:00Z", 24},
		{"SantiagoSkippedMidnight", "America/Santiago", "2024-09-08T12:00:00Z", "2024-09-08", "2024-09-08T04:00:00Z", "2024-09-09T03:00:00Z", 23},
		{"YearEnd", "", "2026-12-31T23:59:59Z", "2026-12-31", "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z", 24},
		{"LeapDay", "", "2028-02-29T12:00:00Z", "2028-02-29", "2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z", 24},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cal Calendar
			if tc.zone != "" {
				cal.Loc = loadLoc(t, tc.zone)
			}
			id, start, end := cal.Day(utc(tc.now))
			require.Equal(t, tc.id, id)
			require.True(t, utc(tc.start).Equal(start), "start %s", start.UTC())
			require.True(t, utc(tc.end).Equal(end), "end %s", end.UTC())
			require.InDelta(t, tc.hours, end.Sub(start).Hours(), 0)
		})
	}
}

func TestCalendarMonth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		zone       string
		now        string
		id         string
		start, end string
		days       float64
	}{
		{"UTCLastInstant", "", "2026-11-30T23:59:59.999999999Z", "2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", 30},
		{"DecemberToJanuary", "", "2027-01-01T00:00:00Z", "2027-01", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z", 31},
		{"December", "", "2026-12-31T23:59:59Z", "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 31},
		{"FebruaryLeap", "", "2028-02-29T23:59:59Z", "2028-02", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z", 29},
		{"FebruaryCommon", "", "2026-02-28T23:59:59Z", "2026-02", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", 28},
		{"KolkataAlreadyDecember", "Asia/Kolkata", "2026-11-30T18:30:00Z", "2026-12", "2026-11-30T18:30:00Z", "2026-12-31T18:30:00Z", 31},
		{"NewYorkStillNovember", "America/New_York", "2026-12-01T04:59:59Z", "2026-11", "2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z", 30 + 1.0/24},
		{"NewYorkMarchLosesAnHour", "America/New_York", "2026-03-15T00:00:00Z", "2026-03", "2026-03-01T05:00:00Z", "2026-04-01T04:00:00Z", 31 - 1.0/24},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cal Calendar
			if tc.zone != "" {
				cal.Loc = loadLoc(t, tc.zone)
			}
			id, start, end := cal.Month(utc(tc.now))
			require.Equal(t, tc.id, id)
			require.True(t, utc(tc.start).Equal(start), "start %s", start.UTC())
			require.True(t, utc(tc.end).Equal(end), "end %s", end.UTC())
			require.InDelta(t, tc.days*24, end.Sub(start).Hours(), 1e-9)
		})
	}
}

// TestCalendarTiles walks a year in 29-minute steps through zones with odd
// rules (and Samoa across the day it skipped in 2011) and checks the periods tile time: now lies in [start, end), the
// instant before end has the same id, end itself begins the next period.
func TestCalendarTiles(t *testing.T) {
	t.Parallel()
	tests := []struct{ zone, from, to string }{
		{"UTC", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"America/New_York", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"Asia/Kolkata", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"America/Santiago", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"America/Havana", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"Australia/Lord_Howe", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"Pacific/Apia", "2011-12-01T00:00:00Z", "2012-01-15T00:00:00Z"},
	}
	for _, tc := range tests {
		zone := tc.zone
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			cal := Calendar{Loc: loadLoc(t, zone)}
			periods := map[string]func(time.Time) (string, time.Time, time.Time){"day": cal.Day, "month": cal.Month}
			for kind, period := range periods {
				for now := utc(tc.from); now.Before(utc(tc.to)); now = now.Add(29 * time.Minute) {
					id, start, end := period(now)
					require.False(t, now.Before(start), "%s %s: %s starts at %s", kind, now, id, start)
					require.True(t, now.Before(end), "%s %s: %s ends at %s", kind, now, id, end)
					last, _, _ := period(end.Add(-time.Nanosecond))
					require.Equal(t, id, last, "%s %s", kind, now)
					next, nextStart, _ := period(end)
					require.NotEqual(t, id, next, "%s %s", kind, now)
					require.True(t, end.Equal(nextStart), "%s %s", kind, now)
				}
			}
		})
	}
}
