package redisstate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/intelgate/intelgate/internal/govern"
)

// QuotaGrace keeps a counter this long past its window's end, so a replica
// whose clock runs a little behind still finds the count it expects (and
// /v1/quota can show the period just ended).
const QuotaGrace = time.Hour

// Consume takes one unit from every window if all have room, atomically
// across replicas (one script checks all, then increments all).
//
// Durability: the counters are only as durable as Redis. A Redis without
// persistence (AOF or RDB snapshots) loses them when it restarts, and every
// quota starts again from zero.
func (s *State) Consume(ctx context.Context, windows []govern.Window) (bool, int, error) {
	if len(windows) == 0 {
		return true, -1, nil
	}
	keys := s.quotaKeys(windows)
	args := make([]any, 0, 2*len(windows))
	for _, w := range windows {
		args = append(args, w.Limit)
	}
	for _, w := range windows {
		if w.Expires.IsZero() {
			// A counter without an end would stay in Redis forever.
			return false, -1, fmt.Errorf("redisstate: consume: window %q has no Expires", w.Key)
		}
		args = append(args, strconv.FormatInt(w.Expires.Add(QuotaGrace).UnixMilli(), 10))
	}
	var idx int64
	err := s.do(ctx, "consume", func(ctx context.Context) error {
		var err error
		idx, err = consumeScript.Run(ctx, s.client, keys, args...).Int64()
		return err
	})
	if err != nil {
		return false, -1, err
	}
	if idx < 0 {
		return true, -1, nil
	}
	return false, int(idx), nil
}

// Refund returns one unit to every window, never below zero.
func (s *State) Refund(ctx context.Context, windows []govern.Window) error {
	if len(windows) == 0 {
		return nil
	}
	return s.do(ctx, "refund", func(ctx context.Context) error {
		return refundScript.Run(ctx, s.client, s.quotaKeys(windows)).Err()
	})
}

// Used returns the units used in each window (0 for unknown ones).
func (s *State) Used(ctx context.Context, windows []govern.Window) ([]int64, error) {
	out := make([]int64, len(windows))
	if len(windows) == 0 {
		return out, nil
	}
	var vals []any
	err := s.do(ctx, "used", func(ctx context.Context) error {
		var err error
		vals, err = s.client.MGet(ctx, s.quotaKeys(windows)...).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		if v == nil {
			continue
		}
		str, _ := v.(string)
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			// Someone else wrote this key: the count is unknowable.
			return nil, fmt.Errorf("redisstate: used: counter %q is not an integer: %w", windows[i].Key, govern.ErrUnavailable)
		}
		out[i] = n
	}
	return out, nil
}

func (s *State) quotaKeys(windows []govern.Window) []string {
	keys := make([]string, len(windows))
	for i, w := range windows {
		keys[i] = s.key("quota", w.Key)
	}
	return keys
}
