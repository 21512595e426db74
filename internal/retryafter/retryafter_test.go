package retryafter

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, time.November, 27, 9, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		want  time.Duration
		ok    bool
	}{
		{"zero seconds", "0", 0, true},
		{"seconds", "120", 2 * time.Minute, true},
		{"leading zeros", "007", 7 * time.Second, true},
		{"surrounding whitespace", " \t30 ", 30 * time.Second, true},
		{"largest exact", "9223372036", 9223372036 * time.Second, true},
		{"just past duration range saturates", "9223372037", time.Duration(math.MaxInt64), true},
		{"huge saturates", "99999999999999999999999999999999", time.Duration(math.MaxInt64), true},
		{"imf-fixdate", "Fri, 27 Nov 2026 09:01:30 GMT", 90 * time.Second, true},
		{"rfc850", "Friday, 27-Nov-26 09:00:10 GMT", 10 * time.Second, true},
		{"asctime", "Fri Nov 27 09:05:00 2026", 5 * time.Minute, true},
		{"date equal to now", "Fri, 27 Nov 2026 09:00:00 GMT", 0, true},
		{"past date", "Thu, 01 Jan 1970 00:00:00 GMT", 0, true},
		{"far future date", "Fri, 31 Dec 9999 23:59:59 GMT", time.Duration(math.MaxInt64), true},
		{"empty", "", 0, false},
		{"blank", "   ", 0, false},
		{"negative", "-5", 0, false},
		{"plus sign", "+5", 0, false},
		{"fraction", "1.5", 0, false},
		{"exponent", "1e3", 0, false},
		{"hex", "0x10", 0, false},
		{"unit suffix", "10s", 0, false},
		{"inner space", "1 0", 0, false},
		{"garbage", "soon", 0, false},
		{"date with bad zone", "Fri, 27 Nov 2026 09:01:30 PST", 0, false},
		{"unicode digits", "١٢", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Parse(tc.value, now)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		d, max time.Duration
		want   time.Duration
	}{
		{"below max", 5 * time.Second, 30 * time.Second, 5 * time.Second},
		{"equal to max", 30 * time.Second, 30 * time.Second, 30 * time.Second},
		{"above max", time.Hour, 30 * time.Second, 30 * time.Second},
		{"saturated value", time.Duration(math.MaxInt64), time.Minute, time.Minute},
		{"negative clamps to zero", -time.Second, time.Minute, 0},
		{"zero max is no bound", time.Hour, 0, time.Hour},
		{"negative max is no bound", time.Hour, -1, time.Hour},
		{"negative with no bound", -time.Second, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, Cap(tc.d, tc.max))
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"0", "120", "99999999999999999999999", "Fri, 27 Nov 2026 09:01:30 GMT",
		"Friday, 27-Nov-26 09:00:10 GMT", "Fri Nov 27 09:05:00 2026", "-1", "1.5", "",
	} {
		f.Add(seed, int64(0))
	}
	f.Fuzz(func(t *testing.T, value string, offset int64) {
		at := now.Add(time.Duration(offset))
		d, ok := Parse(value, at)
		if d < 0 {
			t.Fatalf("Parse(%q) = %v, negative", value, d)
		}
		if !ok && d != 0 {
			t.Fatalf("Parse(%q) = %v, false; want 0 when invalid", value, d)
		}
		if c := Cap(d, time.Minute); c < 0 || c > time.Minute {
			t.Fatalf("Cap(%v, 1m) = %v, out of range", d, c)
		}
	})
}
