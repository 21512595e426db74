// Package store is intelgate's durable state: SQLite (embedded default) and,
// in a later issue, PostgreSQL, behind one interface pinned by one
// conformance suite (storetest).
package store

import (
	"context"
	"time"
)

// Store is durable state.
type Store interface {
	// TouchClient records that client was seen now from addr.
	TouchClient(ctx context.Context, client, addr string, at time.Time) error
	// ClientLastSeen returns when and from where client was last seen;
	// ok is false if never.
	ClientLastSeen(ctx context.Context, client string) (at time.Time, addr string, ok bool, err error)
	// RecordKeyFingerprint stores the fingerprint of provider's key keyID
	// and reports whether it differs from the one stored before (rotation).
	RecordKeyFingerprint(ctx context.Context, provider, keyID, fingerprint string, at time.Time) (changed bool, err error)
	// Ping checks the store is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
