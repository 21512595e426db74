package redisstate

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelgate/intelgate/internal/clock"
)

// PauseUntil pauses key until until (kept to the millisecond); it extends
// a shorter pause and never shortens a longer one. The key expires at
// until, so a pause needs no clean-up and an expired one never blocks a
// shorter new one.
func (s *State) PauseUntil(ctx context.Context, key string, until time.Time) error {
	return s.do(ctx, "pause", func(ctx context.Context) error {
		if until.IsZero() {
			return nil // nothing to extend; still honours a cancelled ctx above
		}
		return pauseScript.Run(ctx, s.client, []string{s.key("pause", key)},
			strconv.FormatInt(until.UnixMilli(), 10)).Err()
	})
}

// PausedUntil returns the end of key's pause, or the zero time. Redis
// drops the key at that end, so a past pause reads as none (give or take
// the skew between Redis's clock and the caller's).
func (s *State) PausedUntil(ctx context.Context, key string) (time.Time, error) {
	var ms int64
	err := s.do(ctx, "paused until", func(ctx context.Context) error {
		var err error
		ms, err = s.client.Get(ctx, s.key("pause", key)).Int64()
		if errors.Is(err, redis.Nil) {
			ms, err = 0, nil
		}
		return err
	})
	if err != nil || ms <= 0 {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// TryPause pauses key for d if no pause is in force: SET NX with a
// relative expiry (PX), so Redis alone decides when it ends — an absolute
// one (PXAT, Redis 6.2+) from a replica whose clock is behind Redis's would
// already be past, and the key would vanish at once. The value is the end
// on this replica's clock, as PauseUntil writes it, for PausedUntil.
func (s *State) TryPause(ctx context.Context, key string, d time.Duration) (bool, error) {
	var ok bool
	err := s.do(ctx, "try pause", func(ctx context.Context) error {
		d = d.Truncate(time.Millisecond)
		if d <= 0 {
			return nil
		}
		err := s.client.SetArgs(ctx, s.key("pause", key), strconv.FormatInt(clock.Or(s.opts.Clock).Now().Add(d).UnixMilli(), 10),
			redis.SetArgs{Mode: "NX", TTL: d}).Err()
		switch {
		case err == nil:
			ok = true
		case errors.Is(err, redis.Nil): // held by someone else
			err = nil
		}
		return err
	})
	return ok, err
}

// Unpause deletes key's pause.
func (s *State) Unpause(ctx context.Context, key string) error {
	return s.do(ctx, "unpause", func(ctx context.Context) error {
		return s.client.Del(ctx, s.key("pause", key)).Err()
	})
}
