package jobs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Workers refused for one provider's next unit are given turns one after
// another, each the governor's estimate after the last; beyond maxHold they
// are not held (their items snooze), and providers do not share turns.
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
	}{
		{"the first worker waits the estimate", "vt", 20 * time.Millisecond, now, 20 * time.Millisecond, true},
		{"the second one turn later", "vt", 20 * time.Millisecond, now, 40 * time.Millisecond, true},
		{"the third after that", "vt", 20 * time.Millisecond, now, 60 * time.Millisecond, true},
		{"another provider has its own turns", "otx", 20 * time.Millisecond, now, 20 * time.Millisecond, true},
		{"a zero estimate still spaces", "otx", 0, now, 25 * time.Millisecond, true},
		{"a turn beyond maxHold is refused", "vt", 950 * time.Millisecond, now, 0, false},
		{"and takes no turn", "vt", 20 * time.Millisecond, now, 80 * time.Millisecond, true},
		{"once the turns are past, the estimate alone", "vt", 20 * time.Millisecond, now.Add(time.Second), 20 * time.Millisecond, true},
		{"an estimate beyond maxHold", "shodan", 2 * time.Second, now, 0, false},
	} {
		d, ok := p.turn(tc.provider, tc.wait, tc.at)
		require.Equal(t, tc.held, ok, tc.name)
		require.Equal(t, tc.want, d, tc.name)
	}
}
