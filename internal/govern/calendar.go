package govern

import (
	"fmt"
	"time"
)

// Calendar cuts time into the days and months quotas are counted in. Vendors
// reset quotas at midnight in their own zone (UTC by default), so a day here
// is a calendar day in Loc, not 24 hours: days around a DST change last 23
// or 25 hours.
type Calendar struct {
	// Loc is the zone days and months are counted in; nil means UTC.
	Loc *time.Location
}

func (c Calendar) loc() *time.Location {
	if c.Loc == nil {
		return time.UTC
	}
	return c.Loc
}

// Day returns the calendar day containing now: its id ("2026-11-27") and its
// bounds [start, end) in Loc. end is the start of the next date, not
// start+24h, so DST days get their true length.
func (c Calendar) Day(now time.Time) (id string, start, end time.Time) {
	y, m, d := now.In(c.loc()).Date()
	start, end = midnight(c.loc(), y, m, d), midnight(c.loc(), y, m, d+1)
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d), start, end
}

// Month returns the calendar month containing now: its id ("2026-11") and
// its bounds [start, end) in Loc.
func (c Calendar) Month(now time.Time) (id string, start, end time.Time) {
	y, m, _ := now.In(c.loc()).Date()
	start, end = midnight(c.loc(), y, m, 1), midnight(c.loc(), y, m+1, 1)
	return fmt.Sprintf("%04d-%02d", y, m), start, end
}

// midnight returns the first instant of a date in loc (d may overflow the
// month; time.Date normalises it). Where a zone change skips midnight
// (America/Santiago, America/Havana) or a whole day (Pacific/Apia,
// 2011-12-30), time.Date lands before the date; the date then begins when
// that zone period ends.
func midnight(loc *time.Location, y int, m time.Month, d int) time.Time {
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // normalised date
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	for range 3 { // a date is skipped by at most one change; stay bounded
		ly, lm, ld := t.Date()
		if !time.Date(ly, lm, ld, 0, 0, 0, 0, time.UTC).Before(want) {
			break
		}
		_, end := t.ZoneBounds()
		if end.IsZero() {
			break
		}
		t = end
	}
	return t
}
