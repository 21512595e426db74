// Package secrettest is the conformance suite every secret.Source passes
// (env:, file:, vault:, awssm:): the same facts, asserted once, against
// each backend driven through a small Backend the backend's test provides.
package secrettest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret"
)

// Backend is what the suite needs to drive one source's store: a real
// environment, a directory of files, or a loopback server that speaks the
// secret store's documented API.
type Backend interface {
	// Ref is the reference to field of the secret called name.
	Ref(name, field string) secret.Ref
	// Put writes fields as the new version of the secret called name
	// (creating it), replacing every field it had.
	Put(t *testing.T, name string, fields map[string]string)
	// Delete removes the secret called name.
	Delete(t *testing.T, name string)
}

// Failer is a Backend that can make its store fail (answer errors or stop
// answering) until told otherwise: every remote source is one.
type Failer interface {
	Fail(t *testing.T, failing bool)
}

// Harness is one source under test with the backend it reads.
type Harness struct {
	Source  secret.Source
	Backend Backend
	// Versioned says the source reports Version and ChangedAt (Vault, AWS);
	// env: and file: know neither.
	Versioned bool
	// Documents says the fields of one name are one document, read once
	// per batch, so every field of a batch comes from the same version.
	Documents bool
}

// Run runs the suite; newHarness is called once per subtest and must give
// each a store of its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	ctx := context.Background()
	const (
		v1 = "conformance-key-0001-aaaaaaaaaaaa"
		v2 = "conformance-key-0002-bbbbbbbbbbbb"
		v3 = "conformance-key-0003-cccccccccccc"
	)
	t.Run("fetches what was put", func(t *testing.T) {
		h := newHarness(t)
		h.Backend.Put(t, "alpha", map[string]string{"key": v1})
		ref := h.Backend.Ref("alpha", "key")
		res := h.Source.Fetch(ctx, []secret.Ref{ref})
		require.Len(t, res, 1)
		require.NoError(t, res[0].Err)
		require.Equal(t, v1, res[0].Value.Reveal())
		if h.Versioned {
			require.NotEmpty(t, res[0].Version, "a versioned source names the version it read")
			require.False(t, res[0].ChangedAt.IsZero(), "a versioned source says when the value was written")
			require.WithinDuration(t, time.Now(), res[0].ChangedAt, 24*time.Hour, "ChangedAt is a real time, not a default")
		} else {
			require.Empty(t, res[0].Version)
			require.True(t, res[0].ChangedAt.IsZero())
		}
	})

	t.Run("a batch answers each reference in order", func(t *testing.T) {
		h := newHarness(t)
		h.Backend.Put(t, "alpha", map[string]string{"key": v1, "other": v2})
		h.Backend.Put(t, "beta", map[string]string{"key": v3})
		refs := []secret.Ref{h.Backend.Ref("beta", "key"), h.Backend.Ref("alpha", "other"),
			h.Backend.Ref("missing", "key"), h.Backend.Ref("alpha", "key"), h.Backend.Ref("alpha", "nofield")}
		res := h.Source.Fetch(ctx, refs)
		require.Len(t, res, len(refs))
		require.NoError(t, res[0].Err)
		require.Equal(t, v3, res[0].Value.Reveal())
		require.NoError(t, res[1].Err)
		require.Equal(t, v2, res[1].Value.Reveal())
		require.Error(t, res[2].Err, "a missing secret fails only its own reference")
		require.True(t, res[2].Value.IsZero())
		require.NoError(t, res[3].Err)
		require.Equal(t, v1, res[3].Value.Reveal())
		require.Error(t, res[4].Err, "a missing field is an error, not an empty key")
		for _, i := range []int{2, 4} {
			assertNoSecret(t, res[i].Err, refs[i], v1, v2, v3)
		}
		require.Empty(t, h.Source.Fetch(ctx, nil), "an empty batch is no work")
	})

	t.Run("a rotated value is read afresh", func(t *testing.T) {
		h := newHarness(t)
		h.Backend.Put(t, "alpha", map[string]string{"key": v1})
		ref := h.Backend.Ref("alpha", "key")
		first := fetchOne(t, h.Source, ref)
		h.Backend.Put(t, "alpha", map[string]string{"key": v2})
		second := fetchOne(t, h.Source, ref)
		require.Equal(t, v2, second.Value.Reveal(), "no source caches across fetches: refresh must see a rotation")
		if h.Versioned {
			require.NotEqual(t, first.Version, second.Version)
			require.False(t, second.ChangedAt.Before(first.ChangedAt))
		}
		// Rewriting the same value is a new version, still the same value.
		h.Backend.Put(t, "alpha", map[string]string{"key": v2})
		third := fetchOne(t, h.Source, ref)
		require.Equal(t, v2, third.Value.Reveal())
		if h.Versioned {
			require.NotEqual(t, second.Version, third.Version)
		}
	})

	t.Run("a deleted secret is an error naming the reference", func(t *testing.T) {
		h := newHarness(t)
		h.Backend.Put(t, "alpha", map[string]string{"key": v1})
		ref := h.Backend.Ref("alpha", "key")
		fetchOne(t, h.Source, ref)
		h.Backend.Delete(t, "alpha")
		res := h.Source.Fetch(ctx, []secret.Ref{ref})[0]
		require.Error(t, res.Err)
		require.True(t, res.Value.IsZero())
		assertNoSecret(t, res.Err, ref, v1)
	})

	t.Run("values a key cannot be are refused without being repeated", func(t *testing.T) {
		for name, bad := range map[string]string{
			"trailing newline": v1 + "\n\n", "leading space": " " + v1, "NUL": "abc\x00" + v1,
			"zero-width space": v1[:8] + "\u200b" + v1[8:], "empty": "",
		} {
			t.Run(name, func(t *testing.T) {
				h := newHarness(t)
				h.Backend.Put(t, "alpha", map[string]string{"key": bad, "good": v2})
				ref := h.Backend.Ref("alpha", "key")
				res := h.Source.Fetch(ctx, []secret.Ref{ref, h.Backend.Ref("alpha", "good")})
				require.Error(t, res[0].Err)
				require.True(t, res[0].Value.IsZero())
				if bad != "" {
					require.NotContains(t, res[0].Err.Error(), strings.TrimSpace(strings.ReplaceAll(bad, "\x00", "")))
				}
				require.NoError(t, res[1].Err, "a bad field does not spoil its neighbours")
				require.Equal(t, v2, res[1].Value.Reveal())
			})
		}
	})

	t.Run("a cancelled context stops the fetch", func(t *testing.T) {
		h := newHarness(t)
		h.Backend.Put(t, "alpha", map[string]string{"key": v1})
		c, cancel := context.WithCancel(ctx)
		cancel()
		res := h.Source.Fetch(c, []secret.Ref{h.Backend.Ref("alpha", "key")})
		require.Len(t, res, 1)
		require.ErrorIs(t, res[0].Err, context.Canceled)
		require.True(t, res[0].Value.IsZero())
	})

	t.Run("concurrent fetches are safe", func(t *testing.T) {
		h := newHarness(t)
		h.Backend.Put(t, "alpha", map[string]string{"key": v1, "other": v2})
		refs := []secret.Ref{h.Backend.Ref("alpha", "key"), h.Backend.Ref("alpha", "other")}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				res := h.Source.Fetch(ctx, refs)
				switch {
				case res[0].Err != nil || res[1].Err != nil:
					errs <- fmt.Errorf("fetch failed: %v / %v", res[0].Err, res[1].Err)
				case res[0].Value.Reveal() != v1 || res[1].Value.Reveal() != v2:
					errs <- fmt.Errorf("concurrent fetch returned the wrong values")
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})

	t.Run("fields of one document come from one version", func(t *testing.T) {
		h := newHarness(t)
		if !h.Documents {
			t.Skip("this source's references are separate values, not fields of one document")
		}
		h.Backend.Put(t, "alpha", map[string]string{"key": v1, "other": v2})
		res := h.Source.Fetch(ctx, []secret.Ref{h.Backend.Ref("alpha", "key"), h.Backend.Ref("alpha", "other")})
		require.NoError(t, res[0].Err)
		require.NoError(t, res[1].Err)
		require.Equal(t, res[0].Version, res[1].Version)
		require.Equal(t, res[0].ChangedAt, res[1].ChangedAt)
	})

	t.Run("a failing store fails every reference, then recovers", func(t *testing.T) {
		h := newHarness(t)
		f, ok := h.Backend.(Failer)
		if !ok {
			t.Skip("this backend cannot be made to fail")
		}
		h.Backend.Put(t, "alpha", map[string]string{"key": v1})
		ref := h.Backend.Ref("alpha", "key")
		f.Fail(t, true)
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		res := h.Source.Fetch(c, []secret.Ref{ref, h.Backend.Ref("alpha", "other")})
		for i, r := range res {
			require.Error(t, r.Err, "reference %d", i)
			require.True(t, r.Value.IsZero())
			assertNoSecret(t, r.Err, ref, v1)
		}
		f.Fail(t, false)
		require.Equal(t, v1, fetchOne(t, h.Source, ref).Value.Reveal())
	})
}

func fetchOne(t *testing.T, src secret.Source, ref secret.Ref) secret.Result {
	t.Helper()
	res := src.Fetch(context.Background(), []secret.Ref{ref})
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	return res[0]
}

// assertNoSecret checks that err names what ref points to (its path: a
// variable, a file, a secret's name) and holds none of values.
func assertNoSecret(t *testing.T, err error, ref secret.Ref, values ...string) {
	t.Helper()
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, ref.Path, "an error names the secret it is about")
	for _, v := range values {
		require.NotContains(t, msg, v, "an error never holds a secret")
	}
}
