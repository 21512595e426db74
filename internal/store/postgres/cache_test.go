package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/cache/cachetest"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/postgres"
)

// cacheStart is the fake clock's start: far from the wall clock, so a
// store reading the wall clock (or the server's now()) instead of
// Options.Clock fails the tests.
var cacheStart = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func openCache(t *testing.T) (*postgres.Store, *clocktest.Clock, string) {
	t.Helper()
	clk := clocktest.New(cacheStart)
	dsn := pgtest.DSN(t)
	return open(t, dsn, postgres.Options{Clock: clk}), clk, dsn
}

func cacheRec(provider, tag, id, body string, expires time.Time) cache.Record {
	return cache.Record{Ref: cache.Ref{ID: id, Tag: tag}, Provider: provider, Body: []byte(body), Expires: expires}
}

func countRows(t *testing.T, dsn string) int {
	t.Helper()
	var n int
	require.NoError(t, pgtest.Conn(t, dsn).QueryRow(t.Context(), "SELECT count(*) FROM cache_records").Scan(&n))
	return n
}

func TestCacheRecordsConformance(t *testing.T) {
	t.Parallel()
	cachetest.RunRecords(t, func(t *testing.T, clk *clocktest.Clock) cache.Records {
		return open(t, pgtest.DSN(t), postgres.Options{Clock: clk})
	})
}

func TestCacheSealedConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T, clk *clocktest.Clock) cache.Tier {
		return cache.NewSealed(open(t, pgtest.DSN(t), postgres.Options{Clock: clk}), testKeyring(t), clk)
	})
}

func testKeyring(t *testing.T) *seal.Keyring {
	t.Helper()
	r, err := seal.NewKeyring([]seal.Key{{ID: "test-1", Secret: bytes.Repeat([]byte{7}, seal.MinSecretLen)}})
	require.NoError(t, err)
	return r
}

func TestCacheRecordsBehaviour(t *testing.T) {
	t.Parallel()
	hour := cacheStart.Add(time.Hour)
	tests := []struct {
		name string
		run  func(t *testing.T, s *postgres.Store, clk *clocktest.Clock, dsn string)
	}{
		{"first live ref wins, in refs order, on the store's clock", func(t *testing.T, s *postgres.Store, clk *clocktest.Clock, _ string) {
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
		}},
		{"put replaces by id; an expired put deletes", func(t *testing.T, s *postgres.Store, _ *clocktest.Clock, dsn string) {
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
			require.Equal(t, 0, countRows(t, dsn))
		}},
		{"an empty body is stored", func(t *testing.T, s *postgres.Store, _ *clocktest.Clock, _ string) {
			require.NoError(t, s.Put(t.Context(), cache.Record{Ref: cache.Ref{ID: "id", Tag: "t"}, Provider: "p", Expires: hour}))
			got, ok, err := s.Get(t.Context(), "p", []cache.Ref{{ID: "id"}})
			require.NoError(t, err)
			require.True(t, ok)
			require.Empty(t, got.Body)
		}},
		{"purge of many tags", func(t *testing.T, s *postgres.Store, _ *clocktest.Clock, _ string) {
			ctx := t.Context()
			var tags []string
			for i := range 1100 {
				tag := fmt.Sprintf("t%04d", i)
				tags = append(tags, tag)
				require.NoError(t, s.Put(ctx, cacheRec("p", tag, "id"+tag, "x", hour)))
			}
			n, err := s.Purge(ctx, "p", tags)
			require.NoError(t, err)
			require.Equal(t, 1100, n)
		}},
		{"scan pages through live records; fn may write", func(t *testing.T, s *postgres.Store, _ *clocktest.Clock, dsn string) {
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
				if _, seen := got[r.ID]; seen {
					return fmt.Errorf("record %s visited twice", r.ID)
				}
				got[r.ID] = r
				return s.Delete(ctx, r.Provider, r.Ref)
			}))
			require.Equal(t, want, got)
			require.Equal(t, 0, countRows(t, dsn))

			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "1", "x", hour)))
			require.NoError(t, s.Put(ctx, cacheRec("p", "t", "2", "x", hour)))
			calls := 0
			err := s.Scan(ctx, func(cache.Record) error { calls++; return io.ErrUnexpectedEOF })
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			require.Equal(t, 1, calls, "scan stops at fn's error")
		}},
		{"refused records", func(t *testing.T, s *postgres.Store, _ *clocktest.Clock, _ string) {
			for _, r := range []cache.Record{cacheRec("", "t", "i", "x", hour), cacheRec("p", "", "i", "x", hour), cacheRec("p", "t", "", "x", hour)} {
				require.Error(t, s.Put(t.Context(), r), "%+v", r)
			}
		}},
		{"writes inside InTx fail", func(t *testing.T, s *postgres.Store, _ *clocktest.Clock, _ string) {
			err := s.InTx(t.Context(), func(ctx context.Context, _ store.Tx) error {
				if err := s.Put(ctx, cacheRec("p", "t", "i", "x", hour)); !errors.Is(err, store.ErrInTx) {
					return fmt.Errorf("Put: %w", err)
				}
				if err := s.Delete(ctx, "p", cache.Ref{ID: "i", Tag: "t"}); !errors.Is(err, store.ErrInTx) {
					return fmt.Errorf("Delete: %w", err)
				}
				if _, err := s.Purge(ctx, "p", nil); !errors.Is(err, store.ErrInTx) {
					return fmt.Errorf("Purge: %w", err)
				}
				if err := s.Notifier(postgres.NotifierOptions{}).Publish(ctx, cache.Scope{}); !errors.Is(err, store.ErrInTx) {
					return fmt.Errorf("Publish: %w", err)
				}
				return nil
			})
			require.NoError(t, err)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, clk, dsn := openCache(t)
			tc.run(t, s, clk, dsn)
		})
	}
}

// TestCacheSweepsExpired: writes delete expired records, a bounded batch
// per Put, so the table stops growing without any background job.
func TestCacheSweepsExpired(t *testing.T) {
	t.Parallel()
	s, clk, dsn := openCache(t)
	ctx := t.Context()
	for i := range 100 {
		require.NoError(t, s.Put(ctx, cacheRec("p", "t", fmt.Sprintf("old%03d", i), "x", cacheStart.Add(time.Minute))))
	}
	clk.Advance(time.Minute)
	require.NoError(t, s.Put(ctx, cacheRec("p", "t", "new1", "x", cacheStart.Add(time.Hour))))
	after := countRows(t, dsn)
	require.Less(t, after, 101, "the put swept some")
	require.Greater(t, after, 1, "but a bounded batch")
	for i := 0; countRows(t, dsn) > 3; i++ {
		require.Less(t, i, 100, "puts never finished the sweep")
		require.NoError(t, s.Put(ctx, cacheRec("p", "t", "new2", "x", cacheStart.Add(time.Hour))))
	}
	require.Equal(t, 2, countRows(t, dsn), "only the live records remain")
}

// TestCacheClosedStore: a store that can no longer reach its server fails
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
		"publishing purge": func() error { return s.Notifier(postgres.NotifierOptions{}).Publish(ctx, cache.Scope{}) },
	}
	for want, op := range ops {
		require.ErrorContains(t, op(), want)
	}
}

// Markers the plaintext check looks for: an indicator and a body phrase
// that appear nowhere else.
const (
	markerIndicator = "10.99.88.77"
	markerBody      = "needle-body-5d1e"
)

// TestCacheTablesHoldNoPlaintext: entries written through the sealed tier
// leave neither their indicator nor their body, in any encoding, in any
// row of the schema (what a database dump or a replica would hold).
func TestCacheTablesHoldNoPlaintext(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(cacheStart)
	sc := pgtest.New(t)
	s := open(t, sc.DSN, postgres.Options{Clock: clk})
	tier := cache.NewSealed(s, testKeyring(t), clk)
	ctx := t.Context()
	body := []byte(`{"verdict":"malicious","note":"` + markerBody + `","ip":"` + markerIndicator + `"}`)
	for i, typ := range []string{"ipv4", "ipv4-raw", "url"} {
		k := cache.Key{Provider: "socialeye", Environment: "prod", Type: typ, Indicator: markerIndicator, UpstreamType: "ip", Client: fmt.Sprint("c", i)}
		e := cache.Entry{Data: body, FetchedAt: cacheStart, FreshUntil: cacheStart.Add(time.Hour), Expires: cacheStart.Add(2 * time.Hour)}
		require.NoError(t, tier.Put(ctx, k, e))
		got, ok, err := tier.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, body, got.Data, "the sealed tier serves the plaintext back")
	}
	require.NoError(t, s.Notifier(postgres.NotifierOptions{}).Publish(ctx, cache.Scope{Provider: "socialeye", Indicators: []string{markerIndicator}}))

	c := pgtest.Conn(t, sc.DSN)
	var dump bytes.Buffer
	for _, query := range []string{
		// encode(…, 'escape') spells bytea as text, so a body stored in
		// clear would show as itself.
		"SELECT row_to_json(r)::text FROM (SELECT *, encode(body, 'escape') AS b FROM cache_records) r",
		"SELECT row_to_json(r)::text FROM cache_purges r",
	} {
		rows, err := c.Query(ctx, query)
		require.NoError(t, err)
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			dump.WriteString(line + "\n")
		}
		require.NoError(t, rows.Err())
	}
	require.Positive(t, dump.Len())
	for _, f := range append(leak.Forms(markerIndicator), leak.Forms(markerBody)...) {
		require.NotContains(t, dump.String(), f)
	}
}

// TestCacheConcurrentRefresh: replicas refreshing expired records at once
// (each Put also sweeps expired ones) never deadlock and never fail,
// whichever record one replica's sweep takes and another rewrites. Each
// round expires every record, so every round starts with sweeps racing
// the rewrites.
func TestCacheConcurrentRefresh(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(cacheStart)
	dsn := pgtest.DSN(t)
	replicas := []*postgres.Store{open(t, dsn, postgres.Options{Clock: clk}), open(t, dsn, postgres.Options{Clock: clk})}
	ctx := t.Context()
	const records, workers, rounds = 64, 8, 15
	for round := range rounds {
		clk.Advance(time.Hour) // every record written so far has expired
		expires := clk.Now().Add(time.Minute)
		errs := make(chan error, records*workers)
		var wg sync.WaitGroup
		for w := range workers {
			s := replicas[w%2]
			wg.Go(func() {
				for i := range records / 4 {
					// Each worker writes its own mix, in its own order.
					id := fmt.Sprintf("id%03d", (i*7+w*13)%records)
					if err := s.Put(ctx, cacheRec("p", "t", id, fmt.Sprint(round), expires)); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "round %d", round)
		}
	}
	require.NoError(t, replicas[1].Scan(ctx, func(r cache.Record) error {
		if string(r.Body) != fmt.Sprint(rounds-1) {
			return fmt.Errorf("%s holds %q, live from an earlier round", r.ID, r.Body)
		}
		return nil
	}))
}
