package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/cache/cachetest"
	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/seal"
)

var (
	sk1 = seal.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}
	sk2 = seal.Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}
)

func ring(t *testing.T, keys ...seal.Key) *seal.Keyring {
	t.Helper()
	r, err := seal.NewKeyring(keys)
	require.NoError(t, err)
	return r
}

func TestMemRecordsConformance(t *testing.T) {
	t.Parallel()
	cachetest.RunRecords(t, func(_ *testing.T, clk *clocktest.Clock) cache.Records {
		return cachetest.NewMemRecords(clk)
	})
}

func TestSealedConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T, clk *clocktest.Clock) cache.Tier {
		return cache.NewSealed(cachetest.NewMemRecords(clk), ring(t, sk1), clk)
	})
}

func TestSealedConformanceDuringRotation(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T, clk *clocktest.Clock) cache.Tier {
		return cache.NewSealed(cachetest.NewMemRecords(clk), ring(t, sk2, sk1), clk)
	})
}

// sealedEnv is a Sealed over MemRecords that a test can inspect.
type sealedEnv struct {
	recs *cachetest.MemRecords
	clk  *clocktest.Clock
}

func newSealedEnv() sealedEnv {
	clk := clocktest.New(testStart)
	return sealedEnv{recs: cachetest.NewMemRecords(clk), clk: clk}
}

func (e sealedEnv) tier(t *testing.T, keys ...seal.Key) *cache.Sealed {
	return cache.NewSealed(e.recs, ring(t, keys...), e.clk)
}

var secretKey = cache.Key{Provider: "vt", Environment: "prod", Type: "domain", Indicator: "secret-target.example", UpstreamType: "domains"}

const secretBody = `{"verdict":"malicious","note":"confidential"}`

func (e sealedEnv) put(t *testing.T, s *cache.Sealed, k cache.Key) {
	t.Helper()
	now := e.clk.Now()
	require.NoError(t, s.Put(context.Background(), k, cache.Entry{
		Data: []byte(secretBody), FetchedAt: now, FreshUntil: now.Add(time.Hour), Expires: now.Add(2 * time.Hour),
	}))
}

func TestSealedStoresNoPlaintext(t *testing.T) {
	t.Parallel()
	env := newSealedEnv()
	s := env.tier(t, sk1)
	env.put(t, s, secretKey)
	all := env.recs.All()
	require.Len(t, all, 1)
	r := all[0]
	require.Equal(t, "vt", r.Provider)
	for _, field := range []string{r.ID, r.Tag, string(r.Body)} {
		require.NotContains(t, field, "secret-target")
		require.NotContains(t, field, "confidential")
		require.NotContains(t, field, "prod")
	}
	require.Len(t, r.ID, 43)
	require.NotEqual(t, r.ID, r.Tag)
	keyID, ok := seal.RecordKeyID(r.Body)
	require.True(t, ok)
	require.Equal(t, "k1", keyID)
}

// tamper rewrites the one stored record with f.
func (e sealedEnv) tamper(t *testing.T, f func(r *cache.Record)) {
	t.Helper()
	all := e.recs.All()
	require.Len(t, all, 1)
	r := all[0]
	require.NoError(t, e.recs.Delete(context.Background(), r.Provider, r.Ref))
	f(&r)
	require.NoError(t, e.recs.Put(context.Background(), r))
}

func TestSealedCorruptRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func(r *cache.Record)
	}{
		{"flipped body byte", func(r *cache.Record) { r.Body[len(r.Body)/2] ^= 1 }},
		{"flipped tag byte", func(r *cache.Record) { r.Body[len(r.Body)-1] ^= 0x80 }},
		{"flipped key id", func(r *cache.Record) { r.Body[2] ^= 1 }},
		{"truncated", func(r *cache.Record) { r.Body = r.Body[:len(r.Body)-1] }},
		{"truncated to header", func(r *cache.Record) { r.Body = r.Body[:4] }},
		{"empty", func(r *cache.Record) { r.Body = nil }},
		{"extended", func(r *cache.Record) { r.Body = append(r.Body, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newSealedEnv()
			s := env.tier(t, sk1)
			env.put(t, s, secretKey)
			env.tamper(t, tc.f)
			got, ok, err := s.Get(context.Background(), secretKey)
			require.ErrorIs(t, err, cache.ErrCorrupt)
			require.False(t, ok)
			require.Empty(t, got.Data)
			require.NotContains(t, err.Error(), "secret-target")
			require.NotContains(t, err.Error(), "confidential")
			require.Empty(t, env.recs.All(), "the corrupt record is deleted")
			_, ok, err = s.Get(context.Background(), secretKey)
			require.NoError(t, err)
			require.False(t, ok)
		})
	}
}

// TestSealedRecordMovedToAnotherID: whoever can write the backend cannot
// make one key's answer be served for another.
func TestSealedRecordMovedToAnotherID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newSealedEnv()
	s := env.tier(t, sk1)
	victim := secretKey
	victim.Indicator = "innocent.example"
	env.put(t, s, secretKey)
	require.NoError(t, s.Put(ctx, victim, cache.Entry{Data: []byte(`{"verdict":"harmless"}`), FetchedAt: env.clk.Now(), FreshUntil: env.clk.Now().Add(time.Hour), Expires: env.clk.Now().Add(time.Hour)}))
	all := env.recs.All()
	require.Len(t, all, 2)
	src, dst := all[0], all[1]
	// Swap: the victim's id now holds the other key's body, and back.
	moved := dst
	moved.Body = src.Body
	require.NoError(t, env.recs.Put(ctx, moved))
	movedBack := src
	movedBack.Body = dst.Body
	require.NoError(t, env.recs.Put(ctx, movedBack))
	for _, k := range []cache.Key{secretKey, victim} {
		_, ok, err := s.Get(ctx, k)
		require.ErrorIs(t, err, cache.ErrCorrupt, k.Indicator)
		require.ErrorIs(t, err, seal.ErrAuth, "the id is the associated data: authentication catches the move")
		require.False(t, ok)
	}
}

func TestSealedRecordMovedToAnotherProvider(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newSealedEnv()
	s := env.tier(t, sk1)
	env.put(t, s, secretKey)
	env.tamper(t, func(r *cache.Record) { r.Provider = "otx" })
	other := secretKey
	other.Provider = "otx"
	_, ok, err := s.Get(ctx, other)
	require.NoError(t, err, "another provider's key has other ids")
	require.False(t, ok)
	n, err := s.Purge(ctx, cache.Scope{Provider: "otx"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestSealedWrongKeyring(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newSealedEnv()
	env.put(t, env.tier(t, sk1), secretKey)
	// Same key id, another secret: the ids differ, so it is a miss, not a
	// corrupt record.
	_, ok, err := env.tier(t, seal.Key{ID: "k1", Secret: bytes.Repeat([]byte{9}, 32)}).Get(ctx, secretKey)
	require.NoError(t, err)
	require.False(t, ok)
	require.Len(t, env.recs.All(), 1)
}

func TestSealedRotationReadsOldKeysWithoutRewriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newSealedEnv()
	env.put(t, env.tier(t, sk1), secretKey)

	rotated := env.tier(t, sk2, sk1)
	got, ok, err := rotated.Get(ctx, secretKey)
	require.NoError(t, err)
	require.True(t, ok, "a record under the older key is read")
	require.JSONEq(t, secretBody, string(got.Data))

	// A read writes nothing (a write there would race purges); rekey and
	// expiry retire the old key's records.
	all := env.recs.All()
	require.Len(t, all, 1)
	keyID, _ := seal.RecordKeyID(all[0].Body)
	require.Equal(t, "k1", keyID)
	resealed, _, _, err := rotated.Rekey(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, resealed)

	// The new key alone reads it now.
	got, ok, err = env.tier(t, sk2).Get(ctx, secretKey)
	require.NoError(t, err)
	require.True(t, ok)
	require.JSONEq(t, secretBody, string(got.Data))
	requireTimeEqual(t, env.clk.Now().Add(2*time.Hour), got.Expires)
}

func requireTimeEqual(t *testing.T, want, got time.Time) {
	t.Helper()
	require.True(t, want.Equal(got), "want %s, got %s", want, got)
}

func TestSealedPutDuringRotationDropsOldCopy(t *testing.T) {
	t.Parallel()
	env := newSealedEnv()
	env.put(t, env.tier(t, sk1), secretKey)
	env.put(t, env.tier(t, sk2, sk1), secretKey)
	all := env.recs.All()
	require.Len(t, all, 1)
	keyID, _ := seal.RecordKeyID(all[0].Body)
	require.Equal(t, "k2", keyID)
}

func TestSealedPurgeIndicatorUnderEveryKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newSealedEnv()
	env.put(t, env.tier(t, sk1), secretKey)
	staging := secretKey
	staging.Environment = "staging"
	rotated := env.tier(t, sk2, sk1)
	env.put(t, rotated, staging)
	kept := secretKey
	kept.Indicator = "kept.example"
	env.put(t, rotated, kept)
	n, err := rotated.Purge(ctx, cache.Scope{Provider: "vt", Indicators: []string{secretKey.Indicator, secretKey.Indicator}})
	require.NoError(t, err)
	require.Equal(t, 2, n, "one record under k1, one under k2")
	require.Len(t, env.recs.All(), 1)
}

func TestSealedRekey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newSealedEnv()
	old := env.tier(t, sk1)
	var keys []cache.Key
	for i := range 20 {
		k := secretKey
		k.Indicator = fmt.Sprintf("host-%d.example", i)
		k.Provider = []string{"vt", "otx"}[i%2]
		keys = append(keys, k)
		env.put(t, old, k)
	}
	rotated := env.tier(t, sk2, sk1)
	env.put(t, rotated, keys[0]) // already under k2: left alone
	// One corrupt record among them.
	var bad cache.Record
	for _, r := range env.recs.All() {
		if id, _ := seal.RecordKeyID(r.Body); id == "k1" {
			bad = r
		}
	}
	bad.Body[len(bad.Body)-1] ^= 1
	require.NoError(t, env.recs.Put(ctx, bad))

	resealed, corrupt, unknown, err := rotated.Rekey(ctx)
	require.NoError(t, err)
	require.Equal(t, 18, resealed)
	require.Equal(t, 1, corrupt)
	require.Zero(t, unknown)

	all := env.recs.All()
	require.Len(t, all, 19)
	for _, r := range all {
		keyID, ok := seal.RecordKeyID(r.Body)
		require.True(t, ok)
		require.Equal(t, "k2", keyID)
	}
	// Everything but the corrupt one reads under k2 alone, at its new id.
	newOnly := env.tier(t, sk2)
	found := 0
	for _, k := range keys {
		got, ok, err := newOnly.Get(ctx, k)
		require.NoError(t, err)
		if ok {
			found++
			require.JSONEq(t, secretBody, string(got.Data))
		}
	}
	require.Equal(t, 19, found)

	resealed, corrupt, _, err = rotated.Rekey(ctx)
	require.NoError(t, err)
	require.Zero(t, resealed, "a second pass has nothing to do")
	require.Zero(t, corrupt)
}

// TestSealedRekeyLeavesUnknownKeysAlone: a record sealed under a key the
// keyring does not hold — a newer replica's during a rolling change of
// encryption.keys — is counted, not deleted; the newer keyring still
// reads it.
func TestSealedRekeyLeavesUnknownKeysAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newSealedEnv()
	env.put(t, env.tier(t, sk2, sk1), secretKey) // a replica already on k2
	resealed, corrupt, unknown, err := env.tier(t, sk1).Rekey(ctx)
	require.NoError(t, err)
	require.Zero(t, resealed)
	require.Zero(t, corrupt)
	require.Equal(t, 1, unknown)
	got, ok, err := env.tier(t, sk2).Get(ctx, secretKey)
	require.NoError(t, err)
	require.True(t, ok, "the newer key's record survived an older keyring's rekey")
	require.JSONEq(t, secretBody, string(got.Data))
}

func TestSealedRekeyStopsOnCanceledContext(t *testing.T) {
	t.Parallel()
	env := newSealedEnv()
	env.put(t, env.tier(t, sk1), secretKey)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, _, err := env.tier(t, sk2, sk1).Rekey(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
