package cachetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clock"
)

// MemRecords is cache.Records in a map, honouring a clock: the reference
// backend of RunRecords, and the backend of tests above the Records layer
// (cache.Sealed, the lookup service). Safe for concurrent use. Bodies are
// copied in and out, as a real backend's bytes would be.
type MemRecords struct {
	clk clock.Clock
	mu  sync.Mutex
	m   map[memKey]cache.Record
}

// memKey partitions records by provider, as the contract does.
type memKey struct{ provider, id string }

var _ cache.Records = (*MemRecords)(nil)

// NewMemRecords returns an empty MemRecords reading clk (nil: the wall
// clock) to decide what is live.
func NewMemRecords(clk clock.Clock) *MemRecords {
	return &MemRecords{clk: clock.Or(clk), m: make(map[memKey]cache.Record)}
}

func cloneRecord(r cache.Record) cache.Record {
	r.Body = bytes.Clone(r.Body)
	return r
}

// Get returns the first live record among refs.
func (r *MemRecords) Get(_ context.Context, provider string, refs []cache.Ref) (cache.Record, bool, error) {
	now := r.clk.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ref := range refs {
		if rec, ok := r.m[memKey{provider, ref.ID}]; ok && now.Before(rec.Expires) {
			return cloneRecord(rec), true, nil
		}
	}
	return cache.Record{}, false, nil
}

// Put stores rec, replacing the record with its provider and ID.
func (r *MemRecords) Put(_ context.Context, rec cache.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[memKey{rec.Provider, rec.ID}] = cloneRecord(rec)
	return nil
}

// Delete removes the record at ref.
func (r *MemRecords) Delete(_ context.Context, provider string, ref cache.Ref) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, memKey{provider, ref.ID})
	return nil
}

// Purge removes provider's records whose tag is in tags (all of them when
// tags is nil, every record when provider is "" too), and counts the live
// ones it removed.
func (r *MemRecords) Purge(_ context.Context, provider string, tags []string) (int, error) {
	if provider == "" && tags != nil {
		return 0, errors.New("purging cache records: tags need a provider")
	}
	now := r.clk.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, rec := range r.m {
		if provider != "" && (k.provider != provider || tags != nil && !slices.Contains(tags, rec.Tag)) {
			continue
		}
		delete(r.m, k)
		if now.Before(rec.Expires) {
			n++
		}
	}
	return n, nil
}

// Scan calls fn for each live record, on a snapshot taken first, so fn
// may Put and Delete.
func (r *MemRecords) Scan(ctx context.Context, fn func(cache.Record) error) error {
	for _, rec := range r.snapshot(true) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// All returns a copy of every stored record, expired ones too, ordered by
// provider and ID: for tests that inspect or tamper with what a tier
// wrote (change a copy, Put it back).
func (r *MemRecords) All() []cache.Record { return r.snapshot(false) }

func (r *MemRecords) snapshot(liveOnly bool) []cache.Record {
	now := r.clk.Now()
	r.mu.Lock()
	out := make([]cache.Record, 0, len(r.m))
	for _, rec := range r.m {
		if !liveOnly || now.Before(rec.Expires) {
			out = append(out, cloneRecord(rec))
		}
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b cache.Record) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.ID, b.ID))
	})
	return out
}
