package redisstate

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelgate/intelgate/internal/govern"
)

// Allow takes one unit from key's bucket if one is available.
func (s *State) Allow(ctx context.Context, key string, l govern.Limit) (govern.Decision, error) {
	return s.gcra(ctx, "allow", allowScript, key, l, 0)
}

// Reserve books the next unit of key's bucket if it is due within maxWait.
func (s *State) Reserve(ctx context.Context, key string, l govern.Limit, maxWait time.Duration) (govern.Decision, error) {
	return s.gcra(ctx, "reserve", allowScript, key, l, max(maxWait, 0))
}

// Drain empties key's bucket as of until (see govern.RateLimiter).
func (s *State) Drain(ctx context.Context, key string, l govern.Limit, until time.Time) error {
	if l.Unlimited() {
		return nil
	}
	return s.do(ctx, "drain", func(ctx context.Context) error {
		return drainScript.Run(ctx, s.client, []string{s.key("rate", key)},
			intervalMicros(l), max(l.Burst, 1), until.UnixMicro()).Err()
	})
}

// Peek reports key's bucket without taking a unit.
func (s *State) Peek(ctx context.Context, key string, l govern.Limit) (govern.Decision, error) {
	return s.gcra(ctx, "peek", peekScript, key, l, 0)
}

func (s *State) gcra(ctx context.Context, op string, script *redis.Script, key string, l govern.Limit, maxWait time.Duration) (govern.Decision, error) {
	if l.Unlimited() {
		// No state to keep or share: answer without a round trip.
		return govern.Decision{Allowed: true, Remaining: math.MaxInt}, nil
	}
	var out []int64
	err := s.do(ctx, op, func(ctx context.Context) error {
		var err error
		out, err = script.Run(ctx, s.client, []string{s.key("rate", key)},
			intervalMicros(l), max(l.Burst, 1), maxWait.Microseconds()).Int64Slice()
		if err == nil && len(out) != 4 {
			err = fmt.Errorf("script returned %d values, want 4", len(out))
		}
		return err
	})
	if err != nil {
		return govern.Decision{}, err
	}
	return govern.Decision{
		Allowed:    out[0] == 1,
		Remaining:  int(out[1]),
		RetryAfter: time.Duration(out[2]) * time.Microsecond,
		ResetAfter: time.Duration(out[3]) * time.Microsecond,
	}, nil
}

// intervalMicros is l's emission interval in whole microseconds, rounded
// up: rounding down would let a fast limit run slightly over its rate,
// and "never exceed" matters more than the last fraction of throughput.
func intervalMicros(l govern.Limit) int64 {
	rate := time.Duration(l.Rate)
	ns := (l.Period + rate - 1) / rate
	return max(int64((ns+time.Microsecond-1)/time.Microsecond), 1)
}
