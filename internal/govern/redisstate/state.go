// Package redisstate is the distributed governance backend: rates, quota
// counters and pauses live in Redis, so every replica of the gateway paces
// the same upstream keys together. Each operation is one Lua script (or one
// read), so a decision is atomic across replicas, and the rate limiter
// reads Redis TIME so replicas whose clocks disagree still agree on it.
//
// Redis 5 or later is required: scripts call TIME before writing, which
// needs effect replication (the default from Redis 5; the only mode from 7).
package redisstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/govern"
)

// Default option values.
const (
	DefaultPrefix    = "intelgate:"
	DefaultOpTimeout = 250 * time.Millisecond
)

// Options configure a State.
type Options struct {
	// Prefix starts every key, so several gateways (or tests) can share one
	// Redis database. Default "intelgate:". On Redis Cluster use a hash
	// tag, e.g. "{intelgate}:", so the keys one script touches share a slot.
	Prefix string
	// OpTimeout bounds each operation, so a slow or unreachable Redis
	// delays a request by at most this much before the governor applies
	// its fail mode. Default 250ms.
	OpTimeout time.Duration
	// Clock is this replica's time, for the pause ends TryPause records
	// (nil: the system clock); Redis's own clock decides expiry.
	Clock clock.Clock
}

// WithDefaults returns o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	return o
}

// State is a govern.State on Redis. It is safe for concurrent use.
type State struct {
	client redis.UniversalClient
	opts   Options
	owned  bool // Close closes client: Open made it
}

var _ govern.State = (*State)(nil)

// New returns a State on client, which the caller keeps owning (Close does
// not close it). OpTimeout is applied through the context, so client
// should have ContextTimeoutEnabled set, or socket reads wait for its own
// ReadTimeout instead; Open sets it.
func New(client redis.UniversalClient, opts Options) *State {
	return &State{client: client, opts: opts.WithDefaults()}
}

// Close closes the Redis client if Open created it; a State from New leaves
// its client to the caller.
func (s *State) Close() error {
	if !s.owned {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redisstate: close: %w", err)
	}
	return nil
}

// Ping checks Redis answers within OpTimeout (readiness).
func (s *State) Ping(ctx context.Context) error {
	return s.do(ctx, "ping", func(ctx context.Context) error {
		return s.client.Ping(ctx).Err()
	})
}

// do runs fn under OpTimeout and classifies its error. A caller that gave
// up (its own context ended) gets its context error; every other failure
// (refused, timed out, or an error reply such as READONLY, LOADING or OOM)
// wraps govern.ErrUnavailable, since the governor cannot decide either way
// and must apply its fail mode.
func (s *State) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstate: %s: %w", op, err)
	}
	opCtx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	defer cancel()
	err := fn(opCtx)
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("redisstate: %s: %w", op, ctxErr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// Our OpTimeout, not the caller's deadline: keep the two apart for
		// callers that test for context.DeadlineExceeded.
		return fmt.Errorf("redisstate: %s: %w: no answer within %s", op, govern.ErrUnavailable, s.opts.OpTimeout)
	}
	return fmt.Errorf("redisstate: %s: %w: %w", op, govern.ErrUnavailable, err)
}

// key maps a governance key into this State's key space; kind keeps rates,
// quotas and pauses apart even when callers reuse a name.
func (s *State) key(kind, name string) string {
	return s.opts.Prefix + kind + ":" + name
}

// Client is the Redis client the State runs on, for the other features
// that share this Redis (the cache's durable tier, its purge bus): one
// connection pool per replica, not one per feature. The State keeps
// owning it.
func (s *State) Client() redis.UniversalClient { return s.client }
