// Package cache keeps upstream answers so that quota is not spent twice on
// the same question. Two tiers: a bounded in-process hot tier, where alone
// plaintext lives, over a durable tier whose records are sealed
// (internal/seal) and indexed by keyed HMACs, so the SQLite file and Redis
// hold neither a body nor an indicator.
//
// The layers:
//
//   - Tier is one level of cache with entry semantics; Memory (the hot
//     tier) and Sealed (durable: seal over Records) implement it, and one
//     conformance suite (cachetest) pins them all.
//   - Records is a durable backend of opaque sealed records: the SQLite
//     store (internal/store/sqlite) or Redis (internal/cache/rediscache).
//   - Cache puts the tiers together for the lookup service: read-through
//     to the hot tier, purge fan-out to every replica (Broadcaster) and
//     the cross-replica fill lease (Leaser).
package cache

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Key identifies one cached answer. Every field that changes what the
// upstream would answer, or who may see it, is part of it: the key
// environment (a client of another environment never sees these entries),
// the upstream type, and the client for providers cached per client.
type Key struct {
	Provider    string
	Environment string
	Type        string // indicator type (ipv4, domain, …)
	// Indicator is the normalised indicator (lookups), or the query as the
	// client sent it (the /v1/resolve drop-in, which forwards it as is).
	Indicator    string
	UpstreamType string
	Client       string // "" unless the provider caches per client
	// Subject is the normalised indicator a purge names this entry by,
	// when Indicator is not normalised (resolve: "EVIL[.]example" is
	// purged as evil.example); "" means Indicator.
	Subject string
}

// subject is what purges of one indicator match k by.
func (k Key) subject() string {
	if k.Subject != "" {
		return k.Subject
	}
	return k.Indicator
}

// String is the canonical, unambiguous encoding of k (every field length
// prefixed, so no two keys share one): the message HMAC'd into a record's
// index and sealed inside it.
func (k Key) String() string {
	var b strings.Builder
	b.Grow(8 + len(k.Provider) + len(k.Environment) + len(k.Type) + len(k.Indicator) + len(k.UpstreamType) + len(k.Client) + len(k.Subject) + 7*4)
	b.WriteString("cache/v1")
	for _, f := range [...]string{k.Provider, k.Environment, k.Type, k.Indicator, k.UpstreamType, k.Client, k.Subject} {
		b.WriteByte('|')
		b.WriteString(strconv.Itoa(len(f)))
		b.WriteByte(':')
		b.WriteString(f)
	}
	return b.String()
}

// Tag is the message HMAC'd into a record's purge tag: the provider and
// the indicator alone, so a purge of one indicator finds its entries of
// every environment, type and client.
func (k Key) Tag() string { return TagOf(k.Provider, k.subject()) }

// TagOf is Key.Tag for a provider and an indicator.
func TagOf(provider, indicator string) string {
	return "tag/v1|" + strconv.Itoa(len(provider)) + ":" + provider + "|" + indicator
}

// Entry is one cached answer.
type Entry struct {
	// NotFound: the upstream said it knows nothing (cached for
	// negative_ttl); Data is then empty.
	NotFound bool
	// Data is the validated JSON object the upstream answered.
	Data      []byte
	FetchedAt time.Time
	// FreshUntil ends the entry's TTL: until then it is served as a hit.
	FreshUntil time.Time
	// Expires ends its life: after FreshUntil and until Expires it is only
	// served stale, when the upstream cannot answer (stale_if_error).
	// Tiers drop it after Expires.
	Expires time.Time
}

// Fresh reports whether e is served as a hit at now.
func (e Entry) Fresh(now time.Time) bool { return now.Before(e.FreshUntil) }

// Live reports whether e may still be served at all (fresh or stale).
func (e Entry) Live(now time.Time) bool { return now.Before(e.Expires) }

// Size is what e weighs in the hot tier: its body plus a fixed overhead
// for the key and bookkeeping.
func (e Entry) Size(k Key) int {
	return len(e.Data) + len(k.Provider) + len(k.Environment) + len(k.Type) + len(k.Indicator) + len(k.UpstreamType) + len(k.Client) + 128
}

// Scope selects the entries a purge removes.
type Scope struct {
	// Provider "" selects every provider (Indicators must then be empty).
	Provider string
	// Indicators, when set, narrows the purge to these indicators at
	// Provider (several forms of one indicator: normalised and as typed).
	Indicators []string
}

// Tier is one level of cache. Get returns an entry only while it is live
// (Entry.Live); a tier drops it after Expires. Errors are the backend's
// (unreachable, full, corrupt): the caller counts them and treats them as
// a miss.
type Tier interface {
	Get(ctx context.Context, k Key) (Entry, bool, error)
	Put(ctx context.Context, k Key, e Entry) error
	// Purge removes the entries in s and says how many it removed.
	Purge(ctx context.Context, s Scope) (int, error)
}

// Ref locates a durable record: its index id and its purge tag, both keyed
// HMACs (internal/seal) of Key.String and Key.Tag under one seal key.
type Ref struct {
	ID  string
	Tag string
}

// Record is one sealed entry as a durable backend stores it. Provider is
// kept in clear (it is configuration, not data) so a provider's entries can
// be purged; ID and Tag are HMACs; Body is sealed.
type Record struct {
	Ref
	Provider string
	Body     []byte
	Expires  time.Time
}

// Records is a durable backend of sealed records. It never sees
// plaintext, an indicator or a key.
type Records interface {
	// Get returns the first live record found among refs, in order (one per
	// seal key: the writing key's first).
	Get(ctx context.Context, provider string, refs []Ref) (Record, bool, error)
	// Put stores r, replacing any record with its ID.
	Put(ctx context.Context, r Record) error
	// Delete removes the record at ref (a corrupt one, or the old copy of a
	// re-sealed one); absent is not an error.
	Delete(ctx context.Context, provider string, ref Ref) error
	// Purge removes provider's records whose tag is one of tags (none for
	// an empty, non-nil tags); every record of provider when tags is nil;
	// every record when provider is "" too (tags must then be nil: an
	// error otherwise). It says how many live records it removed.
	Purge(ctx context.Context, provider string, tags []string) (int, error)
	// Scan calls fn for each live record, for re-sealing; fn may Put and
	// Delete. It stops at the first error fn returns.
	Scan(ctx context.Context, fn func(Record) error) error
}

// Leaser elects one replica to fetch a missing key while the others wait
// for its answer to appear in the durable tier (Redis: SET NX PX).
type Leaser interface {
	// Lease tries to become the fetcher of id for ttl; false means another
	// replica holds it. The returned release gives it up early (after the
	// answer is stored, or on failure).
	Lease(ctx context.Context, id string, ttl time.Duration) (held bool, release func(), err error)
}

// Broadcaster tells every replica about a purge, so each clears its own
// hot tier (Redis pub/sub).
type Broadcaster interface {
	Publish(ctx context.Context, s Scope) error
	// Subscribe calls fn for every purge published by any replica
	// (including this one) until ctx ends.
	Subscribe(ctx context.Context, fn func(Scope)) error
}

// ErrCorrupt marks a durable record that failed authentication, was
// truncated, or names a seal key we do not hold: it is never served.
var ErrCorrupt = errors.New("cache record is corrupt")
