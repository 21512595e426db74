// Package memory is the in-process governance state for a single node:
// GCRA limits and pauses in maps, quotas in a QuotaCounter (SQLite in
// production, so a restart keeps the day's usage; in memory for tests),
// and pauses written through to a PauseLog (SQLite in production, so a
// restart keeps revocations and running pauses).
package memory

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/govern"
)

var _ govern.State = (*State)(nil)

// sweepEvery is how many operations pass between sweeps of expired entries:
// often enough that memory stays bounded by the live keys, rare enough that
// the O(n) scan is amortised to almost nothing.
const sweepEvery = 1024

// Options configures a State.
type Options struct {
	// Clock is the time limits, pauses and TryPause lengths are measured
	// on; nil is the system clock. Tests inject a clocktest.Clock. It
	// should be the governor's clock (govern.Options.Clock): the governor
	// computes pause ends and quota expiries on its own.
	Clock clock.Clock
	// Quotas counts calendar quotas; nil means an in-memory Counter on the
	// same clock (fine for tests; production passes the store, whose
	// clock is its own: see sqlite.Options.Clock).
	Quotas govern.QuotaCounter
	// Pauses keeps pauses durably; nil keeps them in memory only (tests,
	// and nothing is lost that matters: rate buckets refill anyway).
	// Production passes the store, and opens the State with Open.
	Pauses PauseLog
	// Log hears a pause that could not be saved (nil: discarded).
	Log *slog.Logger
}

// PauseLog keeps pauses durably: key revocations, upstream pauses and
// auth-check claims, so that a restart never sends a revoked key again or
// ignores a pause still running. store.Pauses has this shape (the SQLite
// store implements it); it is declared here so that govern does not
// depend on the store.
type PauseLog interface {
	// SavePause records that key is paused until until, keeping the later
	// of until and an end already stored.
	SavePause(ctx context.Context, key string, until time.Time) error
	// DeletePause ends key's pause; an absent key is not an error.
	DeletePause(ctx context.Context, key string) error
	// LoadPauses returns every pause that ends after now.
	LoadPauses(ctx context.Context, now time.Time) (map[string]time.Time, error)
}

func (o Options) clock() clock.Clock { return clock.Or(o.Clock) }

// State is a govern.State held in this process.
type State struct {
	govern.QuotaCounter
	clock clock.Clock
	log   PauseLog // nil: pauses live in memory only
	warn  *slog.Logger

	mu     sync.Mutex
	tats   map[string]time.Time // GCRA theoretical arrival time per key
	pauses map[string]time.Time
	ops    int
}

// New returns an empty State. It writes pauses through to opts.Pauses but
// does not read the pauses saved there: Open does.
func New(opts Options) *State {
	clk := opts.clock()
	quotas := opts.Quotas
	if quotas == nil {
		quotas = NewCounter(clk)
	}
	return &State{
		QuotaCounter: quotas,
		clock:        clk,
		log:          opts.Pauses,
		warn:         opts.Log,
		tats:         make(map[string]time.Time),
		pauses:       make(map[string]time.Time),
	}
}

// Open is New that starts with the pauses saved in opts.Pauses that end
// after now on opts.Clock: the revocations and pauses of the process
// before a restart. With nil Pauses it is New.
func Open(ctx context.Context, opts Options) (*State, error) {
	s := New(opts)
	if s.log == nil {
		return s, nil
	}
	now := s.clock.Now()
	saved, err := s.log.LoadPauses(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("loading saved pauses: %w", err)
	}
	maps.Copy(s.pauses, saved) // ended pauses read as absent anyway
	return s, nil
}

// Allow takes one unit from key's bucket if one is available.
func (s *State) Allow(_ context.Context, key string, l govern.Limit) (govern.Decision, error) {
	return s.rate(key, l, true, 0), nil
}

// Reserve books the next unit of key's bucket if it is due within maxWait.
func (s *State) Reserve(_ context.Context, key string, l govern.Limit, maxWait time.Duration) (govern.Decision, error) {
	return s.rate(key, l, true, max(maxWait, 0)), nil
}

// Drain empties key's bucket as of until (see govern.RateLimiter).
func (s *State) Drain(_ context.Context, key string, l govern.Limit, until time.Time) error {
	if l.Unlimited() || l.Interval() <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// GCRA allows a unit when now >= tat+T-B·T; the first unit is due at
	// until, and the bucket holds nothing more.
	tat := until.Add(time.Duration(max(l.Burst, 1)-1) * l.Interval())
	if tat.After(s.tats[key]) {
		s.tats[key] = tat
	}
	return nil
}

// Peek reports key's bucket without taking a unit.
func (s *State) Peek(_ context.Context, key string, l govern.Limit) (govern.Decision, error) {
	return s.rate(key, l, false, 0), nil
}

func (s *State) rate(key string, l govern.Limit, take bool, maxWait time.Duration) govern.Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.tick(now)
	d, tat := gcra(now, s.tats[key], l, take, maxWait)
	if take && d.Allowed && tat.After(now) {
		s.tats[key] = tat
	}
	return d
}

// Writing through. Each pause change is made in the map under s.mu, which
// is what this process reads from then on, and then saved to the PauseLog
// after s.mu is released: a slow disk must never stall every other key's
// rate check behind one pause. A failed save leaves the pause in force in
// this process, is logged (Options.Log) and counted by the store, and is
// not the caller's error (see notSaved); only a restart before the next
// save of that key would forget it.
//
// Saves therefore reach the log in any order. Two racing PauseUntil (or
// TryPause) saves of one key are fine: SavePause keeps the later end, as
// the map does. An Unpause racing a PauseUntil of the same key may reach
// the log in the other order than the map saw them, so the log can
// disagree with the map until the key's next change; we accept that
// rather than serialise every write behind the slowest one, because of
// who makes the two calls. The governor unpauses only revocation keys, on
// a passed auth check, and pauses them on a refused one; checks of a key
// run one at a time (ClaimCheck), so the two race only when the vendor
// answered both "valid" and "refused" for one secret at once. Either end
// state is then an answer the vendor gave, and both heal: a revocation
// the log kept lapses after RevokeFor or at the next passed re-check, and
// one it lost comes back on the key's next refused call.

// PauseUntil pauses key until until, extending and never shortening, and
// saves the new end to the PauseLog.
func (s *State) PauseUntil(ctx context.Context, key string, until time.Time) error {
	s.mu.Lock()
	now := s.clock.Now()
	s.tick(now)
	extended := until.After(now) && until.After(s.pauses[key])
	if extended {
		s.pauses[key] = until
	}
	s.mu.Unlock()
	if !extended {
		return nil // the log has this end or a later one already
	}
	return s.save(ctx, key, until)
}

// PausedUntil returns the end of key's pause, or the zero time once it has
// passed.
func (s *State) PausedUntil(_ context.Context, key string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.tick(now)
	until, ok := s.pauses[key]
	if !ok || !until.After(now) {
		return time.Time{}, nil
	}
	return until, nil
}

// TryPause pauses key for d if it is not paused now, and saves the pause
// to the PauseLog when it did. won is true when this process took the
// pause, whether or not saving it succeeded: the pause holds here.
func (s *State) TryPause(ctx context.Context, key string, d time.Duration) (won bool, err error) {
	s.mu.Lock()
	now := s.clock.Now()
	s.tick(now)
	if cur, ok := s.pauses[key]; (ok && cur.After(now)) || d <= 0 {
		s.mu.Unlock()
		return false, nil
	}
	until := now.Add(d)
	s.pauses[key] = until
	s.mu.Unlock()
	return true, s.save(ctx, key, until)
}

// Unpause ends key's pause, here and in the PauseLog.
func (s *State) Unpause(ctx context.Context, key string) error {
	s.mu.Lock()
	delete(s.pauses, key)
	s.mu.Unlock()
	if s.log == nil {
		return nil
	}
	if err := s.log.DeletePause(ctx, key); err != nil {
		s.notSaved("a pause's end could not be saved; after a restart it holds until it lapses", key, err)
	}
	return nil
}

// save writes key's pause end through to the log, if any. Callers do not
// hold s.mu.
func (s *State) save(ctx context.Context, key string, until time.Time) error {
	if s.log == nil {
		return nil
	}
	if err := s.log.SavePause(ctx, key, until); err != nil {
		s.notSaved("a pause could not be saved; it holds in this process, but a restart before it is saved again forgets it", key, err)
	}
	return nil
}

// notSaved logs a failed save. It is not the caller's error: the pause
// is in force in this process, which is what the governor decides by —
// reporting it as the state being unavailable would refuse an auth check
// that did get its claim, or hide a revocation that did happen. The store
// counts the failure (intelgate_store_errors_total).
func (s *State) notSaved(msg, key string, err error) {
	if s.warn != nil {
		s.warn.Warn(msg, "kind", pauseKind(key), "error", err.Error())
	}
}

// pauseKind names a pause key's kind for the log without the key, which
// holds a secret's fingerprint.
func pauseKind(key string) string {
	switch {
	case strings.HasPrefix(key, "x:"):
		return "revocation"
	case strings.HasPrefix(key, "c:"):
		return "auth_check_claim"
	case strings.HasPrefix(key, "p:"):
		return "pause"
	}
	return "other"
}

// Ping always succeeds: the state is in this process.
func (s *State) Ping(context.Context) error { return nil }

// tick counts an operation and, every sweepEvery, drops entries that no
// longer say anything: a TAT in the past reads exactly like a new key, and
// a pause in the past like no pause. Callers hold s.mu.
func (s *State) tick(now time.Time) {
	s.ops++
	if s.ops < sweepEvery {
		return
	}
	s.ops = 0
	for k, tat := range s.tats {
		if !tat.After(now) {
			delete(s.tats, k)
		}
	}
	for k, until := range s.pauses {
		if !until.After(now) {
			delete(s.pauses, k)
		}
	}
}

// size reports the live entries, for tests of the sweep.
func (s *State) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tats) + len(s.pauses)
}
