package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/cache/cachetest"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// cacheStart is the fake clock's start: far from the wall clock, so a
// store reading the wall clock instead of Options.Clock fails the tests.
var cacheStart = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func openCache(t *testing.T) (*sqlite.Store, *clocktest.Clock, string) {
	t.Helper()
	clk := clocktest.New(cacheStart)
	path := filepath.Join(t.TempDir(), "intelgate.db")
	s, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, clk, path
}

func cacheRec(provider, tag, id, body string, expires time.Time) cache.Record {
	return cache.Record{Ref: cache.Ref{ID: id, Tag: tag}, Provider: provider, Body: []byte(body), Expires: expires}
}

func TestCacheRecordsBehaviour(t *testing.T) {
	t.Parallel()
	hour := cacheStart.Add(time.Hour)
	tests := []struct {
		name string
		run  func(t *testing.T, s *sqlite.Store, clk *clocktest.Clock)
	}{
		{"first live ref wins, in refs order, on the store's clock", func(t *testing.T, s *sqlite.Store, clk *clocktest.Clock) {
			ctx := t.Context()
			require.NoError(t, s.Put(ctx, cacheRec("p", "t1", "new", "under-new-key", hour)))
			require.NoError(t, s.Put(ctx, cacheRec("p", "t0", "old", "under-old-key", cacheStart.Add(time.Minute))))
			refs := []cache.Ref{{ID: "missing", Tag: "t9"}, {ID: "old", Tag: "t0"}, {ID: "new", Tag: "t1"}}
			got, ok, err := s.Get(ctx, "p", refs)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, cacheRec("p", "t0", "old", "under-old-key", cacheStart.Add(time.Minute)), got)

			clk.Advance(time.Minute) // "old" expires exactly now
			got, ok, err = s.Get(ctx, "p", refs)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "new", got.ID, "an expired record is skipped for the next ref")

			_, ok, err = s.Get(ctx, "other", refs)
			require.NoError(t, err)
			require.False(t, ok, "records are per provider")
			_, ok, err = s.Get(ctx, "p", nil)
			require.NoError(t, err)
			require.False(t, ok)
		}},
		{"put replaces by id; an expired put deletes", func(t *testing.T, s *sqlite.Store, _ *clocktest.Clock) {
			ctx := t.Context()
			ref := []cache.Ref{{ID: "id", Tag: "t"}}
			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "id", "v1", hour)))
			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "id", "v2", hour.Add(time.Hour))))
			got, ok, err := s.Get(ctx, "p", ref)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "v2", string(got.Body))
			require.Equal(t, hour.Add(time.Hour), got.Expires)
			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "id", "v3", cacheStart)))
			_, ok, err = s.Get(ctx, "p", ref)
			require.NoError(t, err)
			require.False(t, ok)
			require.Equal(t, 0, countRows(t, s))
		}},
		{"delete is idempotent", func(t *testing.T, s *sqlite.Store, _ *clocktest.Clock) {
			ctx := t.Context()
			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "id", "v", hour)))
			for range 2 {
				require.NoError(t, s.Delete(ctx, "p", cache.Ref{ID: "id", Tag: "t"}))
			}
			require.Equal(t, 0, countRows(t, s))
		}},
		{"purge of many tags", func(t *testing.T, s *sqlite.Store, _ *clocktest.Clock) {
			ctx := t.Context()
			var tags []string
			for i := range 1100 { // more than one statement's worth
				tag := fmt.Sprintf("t%04d", i)
				tags = append(tags, tag)
				require.NoError(t, s.Put(ctx, cacheRec("p", tag, "id"+tag, "x", hour)))
			}
			n, err := s.Purge(ctx, "p", tags)
			require.NoError(t, err)
			require.Equal(t, 1100, n)
		}},
		{"scan pages through live records; fn may write", func(t *testing.T, s *sqlite.Store, _ *clocktest.Clock) {
			ctx := t.Context()
			want := map[string]cache.Record{}
			for i := range 600 { // several pages
				r := cacheRec(fmt.Sprintf("p%d", i%3), fmt.Sprintf("t%d", i), fmt.Sprintf("id%04d", i), "body", hour)
				want[r.ID] = r
				require.NoError(t, s.Put(ctx, r))
			}
			require.NoError(t, s.Put(ctx, cacheRec("p0", "t", "dead", "x", cacheStart.Add(-time.Second))))
			got := map[string]cache.Record{}
			require.NoError(t, s.Scan(ctx, func(r cache.Record) error {
				require.NotContains(t, got, r.ID, "each record once")
				got[r.ID] = r
				return s.Delete(ctx, r.Provider, r.Ref)
			}))
			require.Equal(t, want, got)
			require.Equal(t, 0, countRows(t, s))

			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "1", "x", hour)))
			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "2", "x", hour)))
			calls := 0
			err := s.Scan(ctx, func(cache.Record) error { calls++; return io.ErrUnexpectedEOF })
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			require.Equal(t, 1, calls, "scan stops at fn's error")
		}},
		{"refused records", func(t *testing.T, s *sqlite.Store, _ *clocktest.Clock) {
			for _, r := range []cache.Record{cacheRec("", "t", "i", "x", hour), cacheRec("p", "", "i", "x", hour), cacheRec("p", "t", "", "x", hour)} {
				require.Error(t, s.Put(t.Context(), r), "%+v", r)
			}
		}},
		{"writes inside InTx fail instead of deadlocking", func(t *testing.T, s *sqlite.Store, _ *clocktest.Clock) {
			err := s.InTx(t.Context(), func(ctx context.Context, _ store.Tx) error {
				require.ErrorIs(t, s.Put(ctx, cacheRec("p", "t", "i", "x", hour)), store.ErrInTx)
				require.ErrorIs(t, s.Delete(ctx, "p", cache.Ref{ID: "i", Tag: "t"}), store.ErrInTx)
				_, err := s.Purge(ctx, "p", nil)
				require.ErrorIs(t, err, store.ErrInTx)
				return nil
			})
			require.NoError(t, err)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, clk, _ := openCache(t)
			tc.run(t, s, clk)
		})
	}
}

func countRows(t *testing.T, s *sqlite.Store) int {
	t.Helper()
	var n int
	require.NoError(t, sqlite.QueryRowForTest(t, s, "SELECT count(*) FROM cache_records").Scan(&n))
	return n
}

// TestCacheSweepsExpired: writes delete expired records through the
// index, a bounded batch per Put, so the file stops growing without any
// background job.
func TestCacheSweepsExpired(t *testing.T) {
	t.Parallel()
	s, clk, _ := openCache(t)
	ctx := t.Context()
	for i := range 100 {
		require.NoError(t, s.Put(ctx, cacheRec("p", "t", fmt.Sprintf("old%03d", i), "x", cacheStart.Add(time.Minute))))
	}
	clk.Advance(time.Minute)
	require.NoError(t, s.Put(ctx, cacheRec("p", "t", "new1", "x", cacheStart.Add(time.Hour))))
	after := countRows(t, s)
	require.Less(t, after, 101, "the put swept some")
	require.Greater(t, after, 1, "but a bounded batch")
	for i := 0; countRows(t, s) > 3; i++ {
		require.Less(t, i, 100, "puts never finished the sweep")
		require.NoError(t, s.Put(ctx, cacheRec("p", "t", "new2", "x", cacheStart.Add(time.Hour))))
	}
	require.Equal(t, 2, countRows(t, s), "only the live records remain")

	var id, parent, unused int
	var plan string
	require.NoError(t, sqlite.QueryRowForTest(t, s,
		"EXPLAIN QUERY PLAN SELECT rowid FROM cache_records WHERE expires_at <= '2031' LIMIT 64").Scan(&id, &parent, &unused, &plan))
	require.Contains(t, plan, "cache_records_expires_at", "the sweep reads the index, not the table")
}

// TestCacheClosedStore: a store that can no longer reach its file fails
// every call with an error that says what failed; nothing panics.
func TestCacheClosedStore(t *testing.T) {
	t.Parallel()
	s, _, _ := openCache(t)
	require.NoError(t, s.Close())
	ctx := t.Context()
	ref := cache.Ref{ID: "id", Tag: "t"}
	ops := map[string]func() error{
		"reading cache record":  func() error { _, _, err := s.Get(ctx, "p", []cache.Ref{ref}); return err },
		"writing cache record":  func() error { return s.Put(ctx, cacheRec("p", "t", "id", "x", cacheStart.Add(time.Hour))) },
		"deleting cache record": func() error { return s.Delete(ctx, "p", ref) },
		"purging cache records": func() error { _, err := s.Purge(ctx, "p", nil); return err },
		"scanning cache records": func() error {
			return s.Scan(ctx, func(cache.Record) error { return nil })
		},
	}
	for want, op := range ops {
		err := op()
		require.Error(t, err, want)
		require.ErrorContains(t, err, want)
	}
}

// TestCacheReadOnlyFile: a database file the process may no longer write
// fails to open or fails every write, with an error; nothing panics.
func TestCacheReadOnlyFile(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions do not stop root writing; TestCacheClosedStore covers the failure path")
	}
	s, _, path := openCache(t)
	require.NoError(t, s.Put(t.Context(), cacheRec("p", "t", "id", "x", cacheStart.Add(time.Hour))))
	require.NoError(t, s.Close())
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o400); err != nil {
			require.ErrorIs(t, err, fs.ErrNotExist)
		}
	}
	ro, err := sqlite.Open(t.Context(), path)
	if err != nil {
		return // refused at open: as good as refused at write
	}
	t.Cleanup(func() { _ = ro.Close() })
	require.ErrorContains(t, ro.Put(t.Context(), cacheRec("p", "t", "id2", "x", time.Now().Add(time.Hour))), "writing cache record")
	_, err = ro.Purge(t.Context(), "p", nil)
	require.Error(t, err)
}

func openCacheWith(t *testing.T, clk *clocktest.Clock) *sqlite.Store {
	t.Helper()
	s, err := sqlite.OpenWith(t.Context(), filepath.Join(t.TempDir(), "intelgate.db"), sqlite.Options{Clock: clk})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testKeyring(t *testing.T, keys ...seal.Key) *seal.Keyring {
	t.Helper()
	if len(keys) == 0 {
		keys = []seal.Key{{ID: "test-1", Secret: bytes.Repeat([]byte{7}, seal.MinSecretLen)}}
	}
	r, err := seal.NewKeyring(keys)
	require.NoError(t, err)
	return r
}

func TestCacheRecordsConformance(t *testing.T) {
	t.Parallel()
	cachetest.RunRecords(t, func(t *testing.T, clk *clocktest.Clock) cache.Records {
		return openCacheWith(t, clk)
	})
}

func TestCacheSealedConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T, clk *clocktest.Clock) cache.Tier {
		return cache.NewSealed(openCacheWith(t, clk), testKeyring(t), clk)
	})
}

// Markers the plaintext scan looks for: an indicator and a body phrase
// that appear nowhere else.
const (
	markerIndicator = "10.99.88.77"
	markerBody      = "needle-body-5d1e"
)

// markerForms are the markers as raw text, hex and base64 at every
// alignment (leak.Forms): what a file or a dump must not hold.
func markerForms() []string {
	return append(leak.Forms(markerIndicator), leak.Forms(markerBody)...)
}

// TestCacheFileHoldsNoPlaintext: entries written through the sealed tier
// leave neither their indicator nor their body in the database, its WAL
// or its shared-memory file — while the store is open (the WAL holds the
// latest pages) and after it is closed (checkpointed) — even after
// overwrites, deletes and purges have left free pages behind.
func TestCacheFileHoldsNoPlaintext(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(cacheStart)
	path := filepath.Join(t.TempDir(), "intelgate.db")
	s, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{Clock: clk})
	require.NoError(t, err)
	tier := cache.NewSealed(s, testKeyring(t), clk)
	ctx := t.Context()
	body := []byte(`{"verdict":"malicious","note":"` + markerBody + `","ip":"` + markerIndicator + `"}`)
	for i, typ := range []string{"ipv4", "ipv4-raw", "url"} {
		k := cache.Key{Provider: "socialeye", Environment: "prod", Type: typ, Indicator: markerIndicator, UpstreamType: "ip", Client: fmt.Sprint("c", i)}
		e := cache.Entry{Data: body, FetchedAt: cacheStart, FreshUntil: cacheStart.Add(time.Hour), Expires: cacheStart.Add(2 * time.Hour)}
		require.NoError(t, tier.Put(ctx, k, e))
		require.NoError(t, tier.Put(ctx, k, e)) // overwrite: the old row's page is freed
		got, ok, err := tier.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, body, got.Data, "the sealed tier serves the plaintext back")
	}
	n, err := tier.Purge(ctx, cache.Scope{Provider: "socialeye", Indicators: []string{markerIndicator}})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	k := cache.Key{Provider: "socialeye", Environment: "prod", Type: "ipv4", Indicator: markerIndicator}
	require.NoError(t, tier.Put(ctx, k, cache.Entry{Data: body, FetchedAt: cacheStart, FreshUntil: cacheStart.Add(time.Hour), Expires: cacheStart.Add(time.Hour)}))

	requireNoMarkers(t, path, true)
	require.NoError(t, s.Close())
	requireNoMarkers(t, path, false)
}

// requireNoMarkers reads every byte of the database and its side files.
func requireNoMarkers(t *testing.T, path string, open bool) {
	t.Helper()
	read := 0
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) && (!open || p != path+"-wal") {
			continue // -shm and, once closed, -wal may be gone
		}
		require.NoError(t, err, p)
		read += len(b)
		for _, f := range markerForms() {
			require.False(t, bytes.Contains(b, []byte(f)), "%s holds %q", filepath.Base(p), f)
		}
	}
	require.Positive(t, read)
}
