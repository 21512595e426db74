package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/seal"
)

// Sealed is the durable tier: entries sealed (internal/seal) over a
// Records backend, so that the backend holds neither a body, an indicator
// nor a key, and a record that was tampered with, truncated, or copied to
// another entry's id is detected and never served.
//
// A record's id is the writer key's HMAC of Key.String, its tag the HMAC of
// Key.Tag; the body seals the entry with the id as associated data, and
// carries Key.String so that Get checks the record answers the key asked
// for. Times are kept to the millisecond.
//
// During a key rotation (keyring [new, old]) Get looks a key up under
// every key, writer first, and re-seals what it finds under an older key;
// Rekey does the same for every record at once. The keyring is fixed for
// the life of a Sealed: a rotation builds a new one.
type Sealed struct {
	records Records
	keys    *seal.Keyring
	clk     clock.Clock
}

var _ Tier = (*Sealed)(nil)

// NewSealed seals entries with keys over records; a nil clk is the wall
// clock.
func NewSealed(records Records, keys *seal.Keyring, clk clock.Clock) *Sealed {
	return &Sealed{records: records, keys: keys, clk: clock.Or(clk)}
}

// ref is k's Ref under the seal key keyID, which the keyring holds.
func (s *Sealed) ref(keyID string, k Key) Ref {
	id, _ := s.keys.IndexUnder(keyID, k.String())
	tag, _ := s.keys.IndexUnder(keyID, k.Tag())
	return Ref{ID: id, Tag: tag}
}

// refs are k's Refs under every seal key, writer first.
func (s *Sealed) refs(k Key) []Ref {
	ids, tags := s.keys.Index(k.String()), s.keys.Index(k.Tag())
	refs := make([]Ref, len(ids))
	for i := range ids {
		refs[i] = Ref{ID: ids[i], Tag: tags[i]}
	}
	return refs
}

// Get returns k's entry while it is live. A record that fails to open is
// deleted (best effort) and reported as an error wrapping ErrCorrupt; the
// caller counts it and treats it as a miss.
func (s *Sealed) Get(ctx context.Context, k Key) (Entry, bool, error) {
	refs := s.refs(k)
	rec, ok, err := s.records.Get(ctx, k.Provider, refs)
	if err != nil {
		return Entry{}, false, fmt.Errorf("read cache record: %w", err)
	}
	if !ok {
		return Entry{}, false, nil
	}
	e, keyID, err := s.open(k, refs, rec)
	if err != nil {
		_ = s.records.Delete(ctx, k.Provider, rec.Ref)
		return Entry{}, false, err
	}
	if !e.Live(s.clk.Now()) {
		return Entry{}, false, nil
	}
	// No lazy re-sealing of a record under an older key: a write here
	// would bypass the cache's purge gate (a purge racing this read would
	// be undone). intelgate cache rekey re-seals, and records expire.
	_ = keyID
	return e, true, nil
}

// open authenticates rec as k's record and returns its entry and the seal
// key it was sealed under.
func (s *Sealed) open(k Key, refs []Ref, rec Record) (Entry, string, error) {
	if rec.Provider != k.Provider || !slices.ContainsFunc(refs, func(r Ref) bool { return r.ID == rec.ID }) {
		return Entry{}, "", fmt.Errorf("backend returned a record for another key: %w", ErrCorrupt)
	}
	pt, keyID, err := s.keys.Open([]byte(rec.ID), rec.Body)
	if err != nil {
		return Entry{}, "", fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	ks, e, err := decodeEntry(pt)
	if err != nil {
		return Entry{}, "", fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if ks != k.String() {
		return Entry{}, "", fmt.Errorf("%w: record holds another key", ErrCorrupt)
	}
	return e, keyID, nil
}

// Put seals e under the writer key, replacing k's record. An entry no
// longer live removes k's records instead. During a rotation it also
// deletes k's copies under older keys (best effort), so that a stale copy
// cannot outlive the new one.
func (s *Sealed) Put(ctx context.Context, k Key, e Entry) error {
	if !e.Live(s.clk.Now()) {
		for _, ref := range s.refs(k) {
			if err := s.records.Delete(ctx, k.Provider, ref); err != nil {
				return fmt.Errorf("delete cache record: %w", err)
			}
		}
		return nil
	}
	if err := s.store(ctx, k, e); err != nil {
		return err
	}
	for _, id := range s.keys.IDs()[1:] {
		_ = s.records.Delete(ctx, k.Provider, s.ref(id, k))
	}
	return nil
}

// store seals e under the writer key and stores it.
func (s *Sealed) store(ctx context.Context, k Key, e Entry) error {
	ks := k.String()
	ref := s.ref(s.keys.Writer(), k)
	body, err := s.keys.Seal([]byte(ref.ID), encodeEntry(ks, e))
	if err != nil {
		return fmt.Errorf("seal cache entry: %w", err)
	}
	if err := s.records.Put(ctx, Record{Ref: ref, Provider: k.Provider, Body: body, Expires: e.Expires}); err != nil {
		return fmt.Errorf("store cache record: %w", err)
	}
	return nil
}

// Purge removes the records in sc. An indicator purge removes the
// indicator's records under every seal key, of every environment, type
// and client.
func (s *Sealed) Purge(ctx context.Context, sc Scope) (int, error) {
	if err := sc.validate(); err != nil {
		return 0, err
	}
	var tags []string
	for _, ind := range sc.Indicators {
		tags = append(tags, s.keys.Index(TagOf(sc.Provider, ind))...)
	}
	slices.Sort(tags)
	n, err := s.records.Purge(ctx, sc.Provider, slices.Compact(tags))
	if err != nil {
		return n, fmt.Errorf("purge cache records: %w", err)
	}
	return n, nil
}

// Rekey re-seals every record sealed under a key other than the writer,
// so the older keys can be removed from the keyring. It opens every
// record, so it also finds corrupt ones: they are deleted and counted,
// not fatal. A record sealed under a key this keyring does not hold is
// left alone and counted as unknown: during a rolling change of
// encryption.keys it may be a newer replica's, and a retired key's
// records expire on their own. A backend error stops it (it is safe to
// run again: a record is stored under its new id before its old copy is
// deleted).
func (s *Sealed) Rekey(ctx context.Context) (resealed, corrupt, unknown int, err error) {
	writer := s.keys.Writer()
	err = s.records.Scan(ctx, func(rec Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if id, ok := seal.RecordKeyID(rec.Body); ok && !slices.Contains(s.keys.IDs(), id) {
			unknown++
			return nil
		}
		k, e, keyID, err := s.openScanned(rec)
		if err != nil {
			corrupt++
			if err := s.records.Delete(ctx, rec.Provider, rec.Ref); err != nil {
				return fmt.Errorf("delete corrupt cache record: %w", err)
			}
			return nil
		}
		if keyID == writer {
			return nil
		}
		if e.Live(s.clk.Now()) {
			if err := s.store(ctx, k, e); err != nil {
				return err
			}
			resealed++
		}
		if err := s.records.Delete(ctx, rec.Provider, rec.Ref); err != nil {
			return fmt.Errorf("delete re-sealed cache record: %w", err)
		}
		return nil
	})
	if err != nil {
		return resealed, corrupt, unknown, fmt.Errorf("rekey cache: %w", err)
	}
	return resealed, corrupt, unknown, nil
}

// openScanned opens a record found by Scan, whose key is known only from
// its payload, and checks that the record sits where that key belongs.
func (s *Sealed) openScanned(rec Record) (Key, Entry, string, error) {
	pt, keyID, err := s.keys.Open([]byte(rec.ID), rec.Body)
	if err != nil {
		return Key{}, Entry{}, "", err
	}
	ks, e, err := decodeEntry(pt)
	if err != nil {
		return Key{}, Entry{}, "", err
	}
	k, err := parseKey(ks)
	if err != nil {
		return Key{}, Entry{}, "", err
	}
	if id, _ := s.keys.IndexUnder(keyID, ks); id != rec.ID || k.Provider != rec.Provider {
		return Key{}, Entry{}, "", errors.New("record is not at its key's id")
	}
	return k, e, keyID, nil
}

// Payload (sealed) format, version 1: version byte, flags byte (bit 0:
// NotFound), FetchedAt, FreshUntil and Expires as big-endian int64 Unix
// milliseconds, uvarint length and Key.String, then Data to the end.
const (
	payloadVersion = 1
	flagNotFound   = 1
	payloadFixed   = 2 + 3*8
)

var errPayload = errors.New("cache payload is malformed")

func encodeEntry(key string, e Entry) []byte {
	b := make([]byte, 0, payloadFixed+binary.MaxVarintLen64+len(key)+len(e.Data))
	var flags byte
	if e.NotFound {
		flags |= flagNotFound
	}
	b = append(b, payloadVersion, flags)
	for _, t := range [...]time.Time{e.FetchedAt, e.FreshUntil, e.Expires} {
		b = binary.BigEndian.AppendUint64(b, uint64(t.UnixMilli()))
	}
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, e.Data...)
}

func decodeEntry(b []byte) (string, Entry, error) {
	if len(b) < payloadFixed || b[0] != payloadVersion || b[1]&^flagNotFound != 0 {
		return "", Entry{}, errPayload
	}
	var ts [3]time.Time
	for i := range ts {
		ts[i] = time.UnixMilli(int64(binary.BigEndian.Uint64(b[2+8*i:]))).UTC()
	}
	rest := b[payloadFixed:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) {
		return "", Entry{}, errPayload
	}
	rest = rest[w:]
	e := Entry{NotFound: b[1]&flagNotFound != 0, FetchedAt: ts[0], FreshUntil: ts[1], Expires: ts[2]}
	if data := rest[n:]; len(data) > 0 {
		e.Data = data
	}
	return string(rest[:n]), e, nil
}

// parseKey inverts Key.String.
func parseKey(s string) (Key, error) {
	rest, ok := strings.CutPrefix(s, "cache/v1")
	if !ok {
		return Key{}, errPayload
	}
	var f [7]string
	for i := range f {
		if rest == "" || rest[0] != '|' {
			return Key{}, errPayload
		}
		num, after, ok := strings.Cut(rest[1:], ":")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || n > len(after) {
			return Key{}, errPayload
		}
		f[i], rest = after[:n], after[n:]
	}
	k := Key{Provider: f[0], Environment: f[1], Type: f[2], Indicator: f[3], UpstreamType: f[4], Client: f[5], Subject: f[6]}
	if rest != "" || k.String() != s {
		return Key{}, errPayload
	}
	return k, nil
}
