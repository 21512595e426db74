package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/seal"
)

// secret returns a recognisable 32-byte secret, so the redaction tests can
// look for it in every spelling.
func secret(b byte) []byte { return bytes.Repeat([]byte{b}, seal.MinSecretLen) }

func keyring(t testing.TB, keys ...seal.Key) *seal.Keyring {
	t.Helper()
	r, err := seal.NewKeyring(keys)
	require.NoError(t, err)
	return r
}

var (
	k1 = seal.Key{ID: "k1", Secret: secret('A')}
	k2 = seal.Key{ID: "k2", Secret: secret('B')}
)

func TestNewKeyringRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []seal.Key
		want string
	}{
		{"none", nil, "at least one key"},
		{"short secret", []seal.Key{{ID: "short", Secret: make([]byte, 31)}}, `key "short": secret must be at least 32 bytes`},
		{"empty id", []seal.Key{{ID: "", Secret: secret('A')}}, "key id is empty"},
		{"long id", []seal.Key{{ID: strings.Repeat("x", 65), Secret: secret('A')}}, "longer than 64 bytes"},
		{"control char", []seal.Key{{ID: "a\nb", Secret: secret('A')}}, "control character"},
		{"invalid utf8", []seal.Key{{ID: "a\xffb", Secret: secret('A')}}, "not valid UTF-8"},
		{"duplicate", []seal.Key{k1, {ID: "k1", Secret: secret('C')}}, `"k1" appears twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := seal.NewKeyring(tc.keys)
			require.ErrorContains(t, err, tc.want)
			for _, k := range tc.keys {
				if len(k.Secret) > 0 {
					require.NotContains(t, err.Error(), string(k.Secret))
				}
			}
		})
	}
}

func TestNewKeyringAccepts64ByteID(t *testing.T) {
	t.Parallel()
	r := keyring(t, seal.Key{ID: strings.Repeat("é", 32), Secret: secret('A')})
	rec, err := r.Seal(nil, []byte("x"))
	require.NoError(t, err)
	pt, id, err := r.Open(nil, rec)
	require.NoError(t, err)
	require.Equal(t, "x", string(pt))
	require.Equal(t, strings.Repeat("é", 32), id)
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	r := keyring(t, k1)
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("intel"), 10000)} {
		rec, err := r.Seal([]byte("id-1"), pt)
		require.NoError(t, err)
		require.NotContains(t, string(rec), "intelintel")
		got, id, err := r.Open([]byte("id-1"), rec)
		require.NoError(t, err)
		require.Equal(t, "k1", id)
		require.Equal(t, len(pt), len(got))
		require.True(t, bytes.Equal(pt, got))
	}
}

func TestRecordFormat(t *testing.T) {
	t.Parallel()
	r := keyring(t, k1)
	rec, err := r.Seal(nil, []byte("abc"))
	require.NoError(t, err)
	// version, id length, id, nonce (12), ciphertext (3), tag (16)
	require.Equal(t, []byte{1, 2, 'k', '1'}, rec[:4])
	require.Len(t, rec, 4+12+3+16)
	id, ok := seal.RecordKeyID(rec)
	require.True(t, ok)
	require.Equal(t, "k1", id)
	_, ok = seal.RecordKeyID(rec[:3])
	require.False(t, ok)
}

func TestTamperingAnyByteFails(t *testing.T) {
	t.Parallel()
	r := keyring(t, k1, k2)
	rec, err := r.Seal([]byte("ad"), []byte("the answer"))
	require.NoError(t, err)
	headerLen := 2 + len("k1")
	for i := range rec {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(rec)
			bad[i] ^= mask
			pt, _, err := r.Open([]byte("ad"), bad)
			require.Nil(t, pt, "byte %d", i)
			if i < headerLen {
				// A changed key id names a key we may not hold: it cannot be
				// told from a record of a retired key.
				require.True(t, errorsIsAny(err, seal.ErrAuth, seal.ErrUnknownKey), "byte %d mask %#x: %v", i, mask, err)
			} else {
				require.ErrorIs(t, err, seal.ErrAuth, "byte %d mask %#x", i, mask)
			}
		}
	}
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func TestTamperedKeyIDToHeldKeyFailsAuth(t *testing.T) {
	t.Parallel()
	r := keyring(t, k1, k2)
	rec, err := r.Seal(nil, []byte("x"))
	require.NoError(t, err)
	bad := bytes.Clone(rec)
	bad[3] = '2' // k1 → k2: a key we hold, but not the one that sealed it
	_, _, err = r.Open(nil, bad)
	require.ErrorIs(t, err, seal.ErrAuth)
}

func TestWrongAD(t *testing.T) {
	t.Parallel()
	r := keyring(t, k1)
	rec, err := r.Seal([]byte("id-1"), []byte("x"))
	require.NoError(t, err)
	for _, ad := range [][]byte{nil, []byte("id-2"), []byte("id-1 "), []byte("id-")} {
		_, _, err := r.Open(ad, rec)
		require.ErrorIs(t, err, seal.ErrAuth, "ad %q", ad)
	}
}

func TestTruncatedAtEveryLength(t *testing.T) {
	t.Parallel()
	r := keyring(t, k1)
	rec, err := r.Seal(nil, []byte("some plaintext"))
	require.NoError(t, err)
	for n := range len(rec) {
		pt, _, err := r.Open(nil, rec[:n])
		require.ErrorIs(t, err, seal.ErrAuth, "length %d", n)
		require.Nil(t, pt)
	}
}

func TestBadVersion(t *testing.T) {
	t.Parallel()
	r := keyring(t, k1)
	rec, err := r.Seal(nil, []byte("x"))
	require.NoError(t, err)
	for _, v := range []byte{0, 2, 255} {
		bad := bytes.Clone(rec)
		bad[0] = v
		_, _, err := r.Open(nil, bad)
		require.ErrorIs(t, err, seal.ErrAuth)
	}
}

func TestUnknownKey(t *testing.T) {
	t.Parallel()
	rec, err := keyring(t, k1).Seal(nil, []byte("x"))
	require.NoError(t, err)
	_, _, err = keyring(t, k2).Open(nil, rec)
	require.ErrorIs(t, err, seal.ErrUnknownKey)
	require.NotErrorIs(t, err, seal.ErrAuth)
}

func TestSameIDOtherSecretFailsAuth(t *testing.T) {
	t.Parallel()
	rec, err := keyring(t, k1).Seal(nil, []byte("x"))
	require.NoError(t, err)
	_, _, err = keyring(t, seal.Key{ID: "k1", Secret: secret('Z')}).Open(nil, rec)
	require.ErrorIs(t, err, seal.ErrAuth)
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old := keyring(t, k1)
	rotated := keyring(t, k2, k1)
	rec, err := old.Seal([]byte("ad"), []byte("x"))
	require.NoError(t, err)

	pt, id, err := rotated.Open([]byte("ad"), rec)
	require.NoError(t, err)
	require.Equal(t, "x", string(pt))
	require.Equal(t, "k1", id, "Open says which key sealed it, so the caller can re-seal")

	require.Equal(t, "k2", rotated.Writer())
	require.Equal(t, []string{"k2", "k1"}, rotated.IDs())
	resealed, err := rotated.Seal([]byte("ad"), pt)
	require.NoError(t, err)
	id, _ = seal.RecordKeyID(resealed)
	require.Equal(t, "k2", id)
	_, _, err = old.Open([]byte("ad"), resealed)
	require.ErrorIs(t, err, seal.ErrUnknownKey)
}

func TestRandomNonce(t *testing.T) {
	t.Parallel()
	r := keyring(t, k1)
	a, err := r.Seal(nil, []byte("same"))
	require.NoError(t, err)
	b, err := r.Seal(nil, []byte("same"))
	require.NoError(t, err)
	require.NotEqual(t, a, b)
}

func TestIndex(t *testing.T) {
	t.Parallel()
	r := keyring(t, k2, k1)
	idx := r.Index("cache/v1|msg")
	require.Len(t, idx, 2)
	require.NotEqual(t, idx[0], idx[1], "each key indexes differently")
	require.Equal(t, idx, r.Index("cache/v1|msg"), "deterministic")
	require.NotEqual(t, idx, r.Index("cache/v1|msh"))
	require.Len(t, idx[0], 43)
	require.NotContains(t, idx[0], "msg")
	for _, c := range idx[0] {
		require.True(t, strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", c), "base64url: %q", c)
	}

	// Writer first, and the same value as the old keyring computed alone.
	require.Equal(t, keyring(t, k2).Index("cache/v1|msg")[0], idx[0])
	require.Equal(t, keyring(t, k1).Index("cache/v1|msg")[0], idx[1])

	got, ok := r.IndexUnder("k1", "cache/v1|msg")
	require.True(t, ok)
	require.Equal(t, idx[1], got)
	_, ok = r.IndexUnder("k3", "cache/v1|msg")
	require.False(t, ok)
}

// spellings are the forms a secret could leak in.
func spellings(s []byte) []string {
	return []string{string(s), fmt.Sprintf("%x", s[:4]), fmt.Sprintf("%d", s[:4])[1:12], base64.StdEncoding.EncodeToString(s[:6])}
}

func TestFormattingNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	k := seal.Key{ID: "kid", Secret: secret('Q')}
	r := keyring(t, k)
	type holder struct {
		Key  seal.Key
		Ring *seal.Keyring
	}
	var logs bytes.Buffer
	jl := slog.New(slog.NewJSONHandler(&logs, nil))
	tl := slog.New(slog.NewTextHandler(&logs, nil))
	jl.Info("k", "key", k, "ring", r, "keys", []seal.Key{k})
	tl.Info("k", "key", k, "ring", r)
	js, err := json.Marshal(holder{Key: k})
	require.NoError(t, err)

	outs := []string{logs.String(), string(js)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		outs = append(outs,
			fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k), fmt.Sprintf(verb, r), fmt.Sprintf(verb, *r),
			fmt.Sprintf(verb, holder{Key: k, Ring: r}), fmt.Sprintf(verb, []seal.Key{k}))
	}
	for _, out := range outs {
		require.Contains(t, out, "kid")
		for _, s := range spellings(k.Secret) {
			require.NotContains(t, out, s)
		}
	}
	require.Contains(t, fmt.Sprint(k), "[REDACTED]")
	require.Equal(t, `seal.Keyring{Writer: "kid", IDs: ["kid"]}`, fmt.Sprint(r))
}

// FuzzOpen: no record, however malformed, makes Open panic or succeed
// without the key.
func FuzzOpen(f *testing.F) {
	r := keyring(f, k1, k2)
	rec, err := r.Seal([]byte("ad"), []byte("plaintext"))
	require.NoError(f, err)
	f.Add([]byte("ad"), rec)
	f.Add([]byte(nil), []byte{})
	f.Add([]byte(nil), []byte{1})
	f.Add([]byte(nil), []byte{1, 2, 'k', '1'})
	f.Add([]byte(nil), []byte{1, 255})
	f.Add([]byte(nil), []byte{1, 0})
	f.Fuzz(func(t *testing.T, ad, record []byte) {
		pt, id, err := r.Open(ad, record)
		if err != nil {
			require.Nil(t, pt)
			require.True(t, errorsIsAny(err, seal.ErrAuth, seal.ErrUnknownKey), "%v", err)
			return
		}
		// Only a genuine record opens (fuzz workers each seal their own
		// seed, so compare what it holds, not its bytes).
		require.Equal(t, "ad", string(ad))
		require.Equal(t, "k1", id)
		require.Equal(t, "plaintext", string(pt))
	})
}
