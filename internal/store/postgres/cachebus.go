package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intelgate/intelgate/internal/backoff"
	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/store"
)

// Notifier is cache.Broadcaster through PostgreSQL's LISTEN/NOTIFY: a
// purge made on one replica (or by `intelgate cache purge`) reaches every
// replica's in-process hot tier as soon as it commits, without Redis.
//
// Messages name a provider at most, never an indicator (see message), on
// a channel of the store's schema (purgeChannel), so deployments in other
// schemas of the database hear nothing of ours.
type Notifier struct {
	s *Store
	o NotifierOptions
}

var _ cache.Broadcaster = (*Notifier)(nil)

// NotifierOptions tune Subscribe's connection handling; the zero value is
// the defaults.
type NotifierOptions struct {
	// Idle is how long the listen connection may stay silent before
	// Subscribe pings it: a connection that died without a word (a
	// firewall dropping idle flows) is found within Idle plus OpTimeout,
	// not after TCP keepalive gives up. Default 30s.
	Idle time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts (exponential with full jitter, internal/backoff). Defaults
	// 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
}

func (o NotifierOptions) withDefaults() NotifierOptions {
	if o.Idle <= 0 {
		o.Idle = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(o.MinBackoff, 10*time.Second)
	}
	return o
}

// Notifier returns the store's purge broadcaster.
func (s *Store) Notifier(o NotifierOptions) *Notifier {
	return &Notifier{s: s, o: o.withDefaults()}
}

// purgeKeep is how long published purges are kept in cache_purges.
const purgeKeep = 24 * time.Hour

// purgeChannel is the notification channel of schema: a hash, because a
// channel is an identifier of at most 63 bytes and a schema name may be
// as long and hold any character.
func purgeChannel(schema string) string {
	sum := sha256.Sum256([]byte(schema))
	return "intelgate_purge_" + hex.EncodeToString(sum[:8])
}

// message is a purge on the wire, as rediscache's: a provider at most.
// A per-indicator purge is published as its provider's, because the
// payload is readable by every session of the database; receivers clear
// that provider's hot entries, which refill from the durable tier the
// publisher already purged precisely.
type message struct {
	V        int    `json:"v"`
	Provider string `json:"provider,omitempty"`
	All      bool   `json:"all,omitempty"`
}

// maxMessage bounds what decode parses (NOTIFY payloads are below 8000
// bytes anyway).
const maxMessage = 1024

func decode(payload string) (cache.Scope, bool) {
	if len(payload) > maxMessage {
		return cache.Scope{}, false
	}
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.V != 1 {
		return cache.Scope{}, false
	}
	switch {
	case m.All && m.Provider == "":
		return cache.Scope{}, true
	case !m.All && m.Provider != "":
		return cache.Scope{Provider: m.Provider}, true
	}
	return cache.Scope{}, false
}

// Publish records a purge of sc in cache_purges and notifies every
// subscriber, in one implicit transaction: the notification is sent when
// the row commits, and not at all if it does not. Scopes with Indicators
// are widened to their provider (see message). It also trims purges
// older than a day.
func (n *Notifier) Publish(ctx context.Context, sc cache.Scope) (err error) {
	s := n.s
	defer s.observe("Publish", ctx, &err)
	if sc.Provider == "" && len(sc.Indicators) > 0 {
		return errors.New("publishing purge: indicators need a provider")
	}
	if inTx(ctx, s) {
		return fmt.Errorf("publishing purge: %w", store.ErrInTx)
	}
	payload, err := json.Marshal(message{V: 1, Provider: sc.Provider, All: sc.Provider == ""})
	if err != nil {
		return fmt.Errorf("publishing purge: %w", err)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	now := s.clock.Now().UTC()
	b := &pgx.Batch{}
	b.Queue("INSERT INTO cache_purges (provider, published_at) VALUES ($1, $2)", sc.Provider, now)
	b.Queue("SELECT pg_notify($1, $2)", s.channel, string(payload))
	b.Queue("DELETE FROM cache_purges WHERE published_at < $1", now.Add(-purgeKeep))
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("publishing purge: %w", err)
	}
	return nil
}

// Subscribe calls fn, one call at a time, for every purge published by
// any replica (this one included) until ctx ends, and then returns nil
// once its connection is closed; it returns an error only when the store
// is closed under it. Received scopes never carry Indicators.
//
// It LISTENs on a connection of its own, acquired from the store's pool
// (so it counts towards Options.MaxConns) and closed, never returned to
// the pool, when Subscribe ends: a pooled connection must not keep
// listening. A silent connection is pinged every NotifierOptions.Idle;
// connecting, LISTEN and each ping are bounded by Options.OpTimeout.
//
// Reconnection. When the listen connection is lost (server restart,
// failover, network) or cannot be made, Subscribe reports it to
// Options.OnError as "Subscribe" and tries again after a backoff, for as
// long as ctx lasts. Notifications sent while no connection was
// listening are lost to this replica, and the hot tier's safety rests on
// never missing a purge, so once it listens again fn is first called
// with the zero Scope (every provider): the hot tier is cleared and
// refills from the durable tier, which those purges did reach. The same
// holds when the first attempt failed: fn hears the zero Scope as soon as
// a later one succeeds.
func (n *Notifier) Subscribe(ctx context.Context, fn func(cache.Scope)) error {
	// The store's closing ends Subscribe too: pool.Close waits for the
	// listen connection to come back.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(n.s.life, cancel)
	defer stop()
	missed := false
	for retry := 1; ; retry++ {
		err := n.listen(ctx, func() {
			if missed {
				fn(cache.Scope{})
			}
			missed, retry = false, 1
		}, fn)
		switch {
		case n.s.life.Err() != nil:
			return fmt.Errorf("subscribing to cache purges: %w", ErrClosed)
		case ctx.Err() != nil:
			return nil
		}
		n.s.observe("Subscribe", ctx, &err)
		missed = true
		// Full jitter, floored so that a run of small draws does not
		// hammer a server that is coming back.
		wait := backoff.Jitter(backoff.Ceiling(n.o.MinBackoff, n.o.MaxBackoff, retry), rand.Float64())
		t := time.NewTimer(max(wait, n.o.MinBackoff/2))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// listen acquires a connection, LISTENs, calls listening, and passes each
// notification to fn until ctx ends (nil) or the connection fails (the
// error).
func (n *Notifier) listen(ctx context.Context, listening func(), fn func(cache.Scope)) error {
	s := n.s
	// OpTimeout always, even when ctx has a deadline: ctx is how long to
	// subscribe, not how long one step may take.
	actx, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(actx)
	if err != nil {
		return fmt.Errorf("acquiring the listen connection: %w", err)
	}
	defer closeListener(conn)
	if _, err := conn.Exec(actx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listening for cache purges: %w", err)
	}
	listening()
	for {
		wctx, wcancel := context.WithTimeout(ctx, n.o.Idle)
		note, err := conn.Conn().WaitForNotification(wctx)
		wcancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			if sc, ok := decode(note.Payload); ok {
				fn(sc)
			}
		case pgconn.Timeout(err):
			// Silent for Idle: make sure the connection still works. A
			// timeout leaves a pgx connection usable.
			if err := n.ping(ctx, conn); err != nil {
				return err
			}
		default:
			return fmt.Errorf("waiting for cache purges: %w", err)
		}
	}
}

func (n *Notifier) ping(ctx context.Context, conn *pgxpool.Conn) error {
	pctx, cancel := context.WithTimeout(ctx, n.s.opTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		return fmt.Errorf("pinging the listen connection: %w", err)
	}
	return nil
}

// closeListener closes the listen connection before releasing it, so the
// pool destroys it instead of handing a listening session to someone else.
func closeListener(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Conn().Close(ctx)
	conn.Release()
}
