package jobs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Workers refused for one bucket's next unit are given turns one after
// another, each the governor's estimate after the last; beyond maxHold
// (or the attempt's horizon) they are not held (their items snooze), and
// buckets do not share turns.
func TestPacerSpacesTurns(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var p pacer
	for _, tc := range []struct {
		name     string
		provider string
		wait     time.Duration
		at       time.Time
		want     time.Duration
		held     bool
		horizon  time.Duration
	}{
		{"the first worker waits the estimate", "vt", 20 * time.Millisecond, now, 20 * time.Millisecond, true, maxHold},
		{"the second one turn later", "vt", 20 * time.Millisecond, now, 40 * time.Millisecond, true, maxHold},
		{"the third after that", "vt", 20 * time.Millisecond, now, 60 * time.Millisecond, true, maxHold},
		{"another provider has its own turns", "otx", 20 * time.Millisecond, now, 20 * time.Millisecond, true, maxHold},
		{"a zero estimate still spaces", "otx", 0, now, 25 * time.Millisecond, true, maxHold},
		{"a turn beyond maxHold is refused", "vt", 950 * time.Millisecond, now, 0, false, maxHold},
		{"and takes no turn", "vt", 20 * time.Millisecond, now, 80 * time.Millisecond, true, maxHold},
		{"once the turns are past, the estimate alone", "vt", 20 * time.Millisecond, now.Add(time.Second), 20 * time.Millisecond, true, maxHold},
		{"an estimate beyond maxHold", "shodan", 2 * time.Second, now, 0, false, maxHold},
		{"a turn beyond the attempt's horizon", "shodan", 300 * time.Millisecond, now, 0, false, 200 * time.Millisecond},
		{"an attempt too near its deadline is never held", "shodan", time.Millisecond, now, 0, false, -time.Second},
	} {
		d, _, ok := p.turn(tc.provider, tc.wait, tc.at, 100, tc.horizon)
		require.Equal(t, tc.held, ok, tc.name)
		require.Equal(t, tc.want, d, tc.name)
	}
}

// At most limit workers are held for one bucket at once; a released turn
// makes room for the next, and other buckets are not held back.
func TestPacerLimitsHeldWorkers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var p pacer
	_, r1, ok := p.turn("vt", time.Millisecond, now, 2, maxHold)
	require.True(t, ok)
	_, r2, ok := p.turn("vt", time.Millisecond, now, 2, maxHold)
	require.True(t, ok)
	_, _, ok = p.turn("vt", time.Millisecond, now, 2, maxHold)
	require.False(t, ok, "a third worker held for one bucket")
	_, r3, ok := p.turn("otx", time.Millisecond, now, 2, maxHold)
	require.True(t, ok, "another bucket is held back")
	r1()
	_, r4, ok := p.turn("vt", time.Millisecond, now, 2, maxHold)
	require.True(t, ok, "a released turn makes room")
	r2()
	r3()
	r4()
}
