package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/intelgate/intelgate/internal/cache"
)

// PurgeLog is cache.Broadcaster through the database file: Publish appends
// a row, Subscribe polls for rows after the last it saw. It lets a purge
// made by another process on the same file (intelgate cache purge) reach
// a running gateway's hot tier within one poll.
type PurgeLog struct {
	s    *Store
	poll time.Duration
}

var _ cache.Broadcaster = (*PurgeLog)(nil)

// DefaultPurgePoll is how often a gateway looks for purges made by other
// processes: how long, at most, its hot tier serves what another process
// purged.
const DefaultPurgePoll = time.Second

// purgeLogKeep is how long published purges are kept for subscribers.
const purgeLogKeep = 24 * time.Hour

// PurgeLog returns the store's purge log, polled every poll (0: the
// default).
func (s *Store) PurgeLog(poll time.Duration) *PurgeLog {
	if poll <= 0 {
		poll = DefaultPurgePoll
	}
	return &PurgeLog{s: s, poll: poll}
}

// Publish records a purge of sc. A purge of indicators is recorded as one
// of their provider (see migration 0004).
func (l *PurgeLog) Publish(ctx context.Context, sc cache.Scope) (err error) {
	defer l.s.observe("Publish", &err)
	if sc.Provider == "" && len(sc.Indicators) > 0 {
		return errors.New("publishing purge: indicators need a provider")
	}
	now := l.s.clock.Now()
	if _, err := l.s.writes.ExecContext(ctx, "INSERT INTO cache_purges (provider, published_at) VALUES (?, ?)",
		sc.Provider, formatTime(now)); err != nil {
		return fmt.Errorf("publishing purge: %w", err)
	}
	if _, err := l.s.writes.ExecContext(ctx, "DELETE FROM cache_purges WHERE published_at < ?",
		formatTime(now.Add(-purgeLogKeep))); err != nil {
		return fmt.Errorf("trimming purge log: %w", err)
	}
	return nil
}

// Subscribe calls fn for every purge published after it started, by this
// process or another, until ctx ends. A failed poll is retried at the next
// one.
func (l *PurgeLog) Subscribe(ctx context.Context, fn func(cache.Scope)) error {
	last, err := l.lastID(ctx)
	for err != nil {
		// The store is unreachable now: start from the next poll that works.
		if !l.wait(ctx) {
			return nil
		}
		last, err = l.lastID(ctx)
	}
	for l.wait(ctx) {
		rows, err := l.s.reads.QueryContext(ctx, "SELECT id, provider FROM cache_purges WHERE id > ? ORDER BY id", last)
		if err != nil {
			continue
		}
		for rows.Next() {
			var id int64
			var provider string
			if rows.Scan(&id, &provider) != nil {
				break
			}
			last = id
			fn(cache.Scope{Provider: provider})
		}
		_ = rows.Close()
	}
	return nil
}

func (l *PurgeLog) lastID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := l.s.reads.QueryRowContext(ctx, "SELECT MAX(id) FROM cache_purges").Scan(&id); err != nil {
		return 0, fmt.Errorf("reading purge log: %w", err)
	}
	return id.Int64, nil
}

func (l *PurgeLog) wait(ctx context.Context) bool {
	t := time.NewTimer(l.poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
