package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clocktest"
)

// recordsEnv is what a Records subtest works with.
type recordsEnv struct {
	recs cache.Records
	clk  *clocktest.Clock
	opts Options
}

// RunRecords runs the Records suite. Record ids and tags in it are
// arbitrary strings of up to 64 bytes (real ones are 43-byte base64url
// HMACs); bodies are arbitrary bytes, NUL included.
func RunRecords(t *testing.T, open func(t *testing.T, clk *clocktest.Clock) cache.Records, opts ...Options) {
	t.Helper()
	o := pickOptions(opts)
	tests := []struct {
		name string
		fn   func(t *testing.T, env recordsEnv)
	}{
		{"RoundTrip", testRecRoundTrip},
		{"GetFirstOfRefs", testRecGetOrder},
		{"PartitionedByProvider", testRecProvider},
		{"PutReplaces", testRecPutReplaces},
		{"Delete", testRecDelete},
		{"Purge", testRecPurge},
		{"Expiry", testRecExpiry},
		{"PutExpired", testRecPutExpired},
		{"Scan", testRecScan},
		{"ScanWhileRewriting", testRecScanRewrite},
		{"ScanStopsAtError", testRecScanError},
		{"NoAliasing", testRecNoAliasing},
		{"Concurrent", testRecConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !o.Serial {
				t.Parallel()
			}
			clk := newClock(o)
			tc.fn(t, recordsEnv{recs: open(t, clk), clk: clk, opts: o})
		})
	}
}

// record is a live record of provider at now.
func record(now time.Time, provider, id, tag string) cache.Record {
	return cache.Record{Ref: cache.Ref{ID: id, Tag: tag}, Provider: provider, Body: []byte("body of " + id), Expires: now.Add(time.Hour)}
}

func ref(id string) cache.Ref { return cache.Ref{ID: id, Tag: "t"} }

func getRec(t *testing.T, env recordsEnv, provider string, refs ...cache.Ref) (cache.Record, bool) {
	t.Helper()
	rec, ok, err := env.recs.Get(context.Background(), provider, refs)
	require.NoError(t, err)
	return rec, ok
}

func requireRecord(t *testing.T, want, got cache.Record) {
	t.Helper()
	require.Equal(t, want.Ref, got.Ref)
	require.Equal(t, want.Provider, got.Provider)
	require.Equal(t, len(want.Body), len(got.Body))
	require.True(t, bytes.Equal(want.Body, got.Body), "Body differs")
	requireTime(t, want.Expires, got.Expires, "Expires")
}

func putAll(t *testing.T, env recordsEnv, recs ...cache.Record) {
	t.Helper()
	for _, r := range recs {
		require.NoError(t, env.recs.Put(context.Background(), r))
	}
}

func testRecRoundTrip(t *testing.T, env recordsEnv) {
	now := env.clk.Now()
	bin := record(now, "vt", "id-bin", "tag-bin")
	bin.Body = make([]byte, 256)
	for i := range bin.Body {
		bin.Body[i] = byte(i)
	}
	bin.Expires = now.Add(time.Hour + 789*time.Microsecond)
	large := record(now, "vt", "id-large", "tag-large")
	large.Body = bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<18) // 1 MiB
	long := record(now, "vt", strings.Repeat("i", 64), strings.Repeat("t", 64))
	putAll(t, env, bin, large, long)
	for _, want := range []cache.Record{bin, large, long} {
		got, ok := getRec(t, env, "vt", want.Ref)
		require.True(t, ok, want.ID)
		requireRecord(t, want, got)
	}
}

func testRecGetOrder(t *testing.T, env recordsEnv) {
	now := env.clk.Now()
	a, b := record(now, "vt", "id-a", "tag-a"), record(now, "vt", "id-b", "tag-b")
	putAll(t, env, a, b)
	tests := []struct {
		refs []cache.Ref
		want string // "" for a miss
	}{
		{[]cache.Ref{ref("id-a"), ref("id-b")}, "id-a"},
		{[]cache.Ref{ref("id-b"), ref("id-a")}, "id-b"},
		{[]cache.Ref{ref("id-x"), ref("id-b"), ref("id-a")}, "id-b"},
		{[]cache.Ref{ref("id-x"), ref("id-y")}, ""},
		{nil, ""},
	}
	for _, tc := range tests {
		got, ok := getRec(t, env, "vt", tc.refs...)
		require.Equal(t, tc.want != "", ok, "%v", tc.refs)
		if ok {
			require.Equal(t, tc.want, got.ID)
			require.Equal(t, "body of "+tc.want, string(got.Body))
		}
	}
}

func testRecProvider(t *testing.T, env recordsEnv) {
	ctx := context.Background()
	putAll(t, env, record(env.clk.Now(), "vt", "id-1", "tag-1"))
	_, ok := getRec(t, env, "otx", ref("id-1"))
	require.False(t, ok, "another provider's record")
	require.NoError(t, env.recs.Delete(ctx, "otx", ref("id-1")))
	n, err := env.recs.Purge(ctx, "otx", nil)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = env.recs.Purge(ctx, "otx", []string{"tag-1"})
	require.NoError(t, err)
	require.Zero(t, n)
	_, ok = getRec(t, env, "vt", ref("id-1"))
	require.True(t, ok)

	// One id under two providers is two records.
	other := record(env.clk.Now(), "otx", "id-1", "tag-1")
	other.Body = []byte("otx's")
	putAll(t, env, other)
	got, ok := getRec(t, env, "vt", ref("id-1"))
	require.True(t, ok)
	require.Equal(t, "body of id-1", string(got.Body))
	got, ok = getRec(t, env, "otx", ref("id-1"))
	require.True(t, ok)
	require.Equal(t, "otx's", string(got.Body))
}

func testRecPutReplaces(t *testing.T, env recordsEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	first := record(now, "vt", "id-1", "tag-old")
	first.Body = bytes.Repeat([]byte("long "), 100)
	second := record(now, "vt", "id-1", "tag-new")
	second.Body = []byte("short")
	second.Expires = now.Add(3 * time.Hour)
	putAll(t, env, first, second)
	got, ok := getRec(t, env, "vt", ref("id-1"))
	require.True(t, ok)
	requireRecord(t, second, got)

	n, err := env.recs.Purge(ctx, "vt", []string{"tag-old"})
	require.NoError(t, err)
	require.Zero(t, n, "the replaced record's tag is gone with it")
	n, err = env.recs.Purge(ctx, "vt", []string{"tag-new"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func testRecDelete(t *testing.T, env recordsEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	putAll(t, env, record(now, "vt", "id-1", "tag"), record(now, "vt", "id-2", "tag"))
	require.NoError(t, env.recs.Delete(ctx, "vt", ref("id-absent")))
	require.NoError(t, env.recs.Delete(ctx, "vt", ref("id-1")))
	require.NoError(t, env.recs.Delete(ctx, "vt", ref("id-1")), "deleting twice")
	_, ok := getRec(t, env, "vt", ref("id-1"))
	require.False(t, ok)
	_, ok = getRec(t, env, "vt", ref("id-2"))
	require.True(t, ok)
}

func testRecPurge(t *testing.T, env recordsEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	var all []cache.Record
	for _, p := range []string{"vt", "otx"} {
		for i := range 9 {
			all = append(all, record(now, p, fmt.Sprintf("id-%d", i), fmt.Sprintf("tag-%d", i%3)))
		}
	}
	putAll(t, env, all...)
	steps := []struct {
		provider string
		tags     []string
		want     int
		gone     func(r cache.Record) bool
	}{
		{"vt", []string{"tag-0"}, 3, func(r cache.Record) bool { return r.Provider == "vt" && r.Tag == "tag-0" }},
		{"vt", []string{"tag-1", "tag-x"}, 3, func(r cache.Record) bool { return r.Provider == "vt" && r.Tag != "tag-2" }},
		{"vt", nil, 3, func(r cache.Record) bool { return r.Provider == "vt" }},
		{"vt", nil, 0, func(r cache.Record) bool { return r.Provider == "vt" }},
		{"", nil, 9, func(cache.Record) bool { return true }},
	}
	n, err := env.recs.Purge(ctx, "vt", []string{})
	require.NoError(t, err)
	require.Zero(t, n, "an empty tag list never widens to the whole provider")
	_, err = env.recs.Purge(ctx, "", []string{"tag-0"})
	require.Error(t, err, "tags need a provider")
	for i, st := range steps {
		n, err := env.recs.Purge(ctx, st.provider, st.tags)
		require.NoError(t, err)
		require.Equal(t, st.want, n, "step %d", i)
		for _, r := range all {
			_, ok := getRec(t, env, r.Provider, r.Ref)
			require.Equal(t, !st.gone(r), ok, "step %d: %s/%s", i, r.Provider, r.ID)
		}
	}
}

func scanIDs(t *testing.T, env recordsEnv) []string {
	t.Helper()
	var ids []string
	require.NoError(t, env.recs.Scan(context.Background(), func(r cache.Record) error {
		ids = append(ids, r.Provider+"/"+r.ID)
		return nil
	}))
	return ids
}

func testRecExpiry(t *testing.T, env recordsEnv) {
	if env.opts.RealTime {
		r := record(env.clk.Now(), "vt", "id-1", "tag")
		r.Expires = time.Now().Add(env.opts.TTL)
		putAll(t, env, r)
		awaitGone(t, env.opts, r.Expires, func() (bool, error) {
			_, ok, err := env.recs.Get(context.Background(), "vt", []cache.Ref{r.Ref})
			return ok, err
		})
		require.Empty(t, scanIDs(t, env))
		return
	}
	now := env.clk.Now()
	short := record(now, "vt", "id-short", "tag")
	short.Expires = now.Add(10 * time.Second)
	long := record(now, "vt", "id-long", "tag")
	putAll(t, env, short, long)
	env.clk.Advance(10*time.Second - time.Millisecond)
	_, ok := getRec(t, env, "vt", short.Ref)
	require.True(t, ok)
	env.clk.Advance(time.Millisecond) // at Expires
	_, ok = getRec(t, env, "vt", short.Ref)
	require.False(t, ok)
	got, ok := getRec(t, env, "vt", short.Ref, long.Ref)
	require.True(t, ok, "an expired first ref falls through to the next")
	require.Equal(t, "id-long", got.ID)
	require.Equal(t, []string{"vt/id-long"}, scanIDs(t, env))
}

func testRecPutExpired(t *testing.T, env recordsEnv) {
	now := env.clk.Now()
	r := record(now, "vt", "id-1", "tag")
	putAll(t, env, r)
	r.Expires = now.Add(-time.Second)
	putAll(t, env, r)
	_, ok := getRec(t, env, "vt", r.Ref)
	require.False(t, ok, "a record put already expired replaces and hides the old one")
}

func testRecScan(t *testing.T, env recordsEnv) {
	now := env.clk.Now()
	want := map[string]bool{}
	for i := range 60 {
		p := []string{"vt", "otx", "shodan"}[i%3]
		r := record(now, p, fmt.Sprintf("id-%02d", i), "tag")
		putAll(t, env, r)
		want[p+"/"+r.ID] = true
	}
	if !env.opts.RealTime {
		dead := record(now, "vt", "id-dead", "tag")
		dead.Expires = now.Add(time.Second)
		putAll(t, env, dead)
		env.clk.Advance(time.Second)
	}
	got := map[string]bool{}
	var bodies []string
	require.NoError(t, env.recs.Scan(context.Background(), func(r cache.Record) error {
		got[r.Provider+"/"+r.ID] = true
		bodies = append(bodies, string(r.Body))
		return nil
	}))
	require.Equal(t, want, got)
	require.Contains(t, bodies, "body of id-07")
}

// testRecScanWhileRewriting is what a rekey does: every record is stored
// under a new id and its old copy deleted, from inside fn.
func testRecScanRewrite(t *testing.T, env recordsEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	const n = 40
	for i := range n {
		putAll(t, env, record(now, "vt", fmt.Sprintf("old-%02d", i), "tag"))
	}
	calls := 0
	require.NoError(t, env.recs.Scan(ctx, func(r cache.Record) error {
		calls++
		if calls > 10*n {
			return errors.New("scan does not end")
		}
		if !strings.HasPrefix(r.ID, "old-") {
			return nil // a record this scan wrote: it may or may not be visited
		}
		moved := r
		moved.ID = "new-" + strings.TrimPrefix(r.ID, "old-")
		if err := env.recs.Put(ctx, moved); err != nil {
			return err
		}
		return env.recs.Delete(ctx, r.Provider, r.Ref)
	}))
	ids := scanIDs(t, env)
	require.Len(t, ids, n)
	for _, id := range ids {
		require.True(t, strings.HasPrefix(id, "vt/new-"), id)
	}
	got, ok := getRec(t, env, "vt", ref("new-07"))
	require.True(t, ok)
	require.Equal(t, "body of old-07", string(got.Body))
}

func testRecScanError(t *testing.T, env recordsEnv) {
	now := env.clk.Now()
	for i := range 5 {
		putAll(t, env, record(now, "vt", fmt.Sprintf("id-%d", i), "tag"))
	}
	errStop := errors.New("stop")
	calls := 0
	err := env.recs.Scan(context.Background(), func(cache.Record) error {
		calls++
		return errStop
	})
	require.ErrorIs(t, err, errStop)
	require.Equal(t, 1, calls)
}

func testRecNoAliasing(t *testing.T, env recordsEnv) {
	r := record(env.clk.Now(), "vt", "id-1", "tag")
	r.Body = []byte("original")
	putAll(t, env, r)
	r.Body[0] = 'X'
	got, ok := getRec(t, env, "vt", r.Ref)
	require.True(t, ok)
	require.Equal(t, "original", string(got.Body))
	got.Body[0] = 'Y'
	got, _ = getRec(t, env, "vt", r.Ref)
	require.Equal(t, "original", string(got.Body))
}

// testRecConcurrent mixes every operation; failures are asserted on the
// test's goroutine.
func testRecConcurrent(t *testing.T, env recordsEnv) {
	ctx := context.Background()
	now := env.clk.Now()
	const workers, ops = 6, 60
	errs := make(chan error, workers*ops)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := range ops {
				id := fmt.Sprintf("id-%d", (w+n)%10)
				var err error
				switch n % 6 {
				case 0, 1:
					r := record(now, "vt", id, "tag")
					r.Body = []byte(id)
					err = env.recs.Put(ctx, r)
				case 2:
					err = env.recs.Delete(ctx, "vt", ref(id))
				case 3:
					_, err = env.recs.Purge(ctx, "vt", []string{"tag-none"})
				case 4:
					err = env.recs.Scan(ctx, func(cache.Record) error { return nil })
				default:
					var r cache.Record
					var ok bool
					r, ok, err = env.recs.Get(ctx, "vt", []cache.Ref{ref(id)})
					if err == nil && ok && string(r.Body) != r.ID {
						err = fmt.Errorf("record %s holds %q", r.ID, r.Body)
					}
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
