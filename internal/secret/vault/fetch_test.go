package vault_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/secrettest"
	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
)

// TestConformance runs the suite every secret.Source passes against the
// loopback Vault, once per way the store can fail: sealed (503) and gone
// (the connection drops).
func TestConformance(t *testing.T) {
	t.Parallel()
	for name, mode := range map[string]vaulttest.FailMode{"sealed": vaulttest.FailUnavailable, "unreachable": vaulttest.FailClose} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			secrettest.Run(t, func(t *testing.T) secrettest.Harness {
				srv := vaulttest.NewServer(t, vaulttest.Options{FailMode: mode})
				tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
				return secrettest.Harness{
					Source: newSource(t, tokenOptions(t, srv, tok)), Backend: srv, Versioned: true, Documents: true,
				}
			})
		})
	}
}

func mustRef(t *testing.T, s string) secret.Ref {
	t.Helper()
	ref, err := secret.ParseRef(s)
	require.NoError(t, err)
	return ref
}

func TestFetchReadsEachDocumentOncePerBatch(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{Mounts: []string{"secret", "kv"}})
	src := newSource(t, tokenOptions(t, srv, srv.RootToken()))
	srv.Write(t, "secret/app", map[string]any{"a": "value-a-0123456789", "b": "value-b-0123456789", "c": "value-c-0123456789"})
	srv.Write(t, "kv/app", map[string]any{"a": "other-mount-a-0123456789"})
	refs := []secret.Ref{
		mustRef(t, "vault:secret/app#a"), mustRef(t, "vault:kv/app#a"), mustRef(t, "vault:secret/app#b"),
		mustRef(t, "vault:secret/app#c"), mustRef(t, "vault:secret/app#a"),
	}
	before := srv.Counts().Reads
	res := src.Fetch(context.Background(), refs)
	require.Equal(t, 2, srv.Counts().Reads-before, "one read per MOUNT/PATH, however many fields")
	want := []string{"value-a-0123456789", "other-mount-a-0123456789", "value-b-0123456789", "value-c-0123456789", "value-a-0123456789"}
	for i, r := range res {
		require.NoError(t, r.Err, refs[i].String())
		require.Equal(t, want[i], r.Value.Reveal(), "the mount is the first path segment: %s", refs[i])
	}
	require.Equal(t, "1", res[0].Version)
}

func TestFetchReportsVersionAndCreatedTime(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	src := newSource(t, tokenOptions(t, srv, srv.RootToken()))
	ref := srv.Ref("app", "key")
	srv.Write(t, "secret/app", map[string]any{"key": "first-value-0123456789"})
	clk.Advance(90 * time.Minute)
	srv.Write(t, "secret/app", map[string]any{"key": "second-value-0123456789"})
	r := fetchOne(t, src, ref)
	require.NoError(t, r.Err)
	require.Equal(t, "2", r.Version)
	require.True(t, r.ChangedAt.Equal(clk.Now()), "ChangedAt is the version's created_time: %s", r.ChangedAt)
	require.Empty(t, r.Warnings)
}

// TestFetchRefusesWhatIsNotAKey: each failure names the reference and
// fails only its own reference; none holds the value.
func TestFetchRefusesWhatIsNotAKey(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	src := newSource(t, tokenOptions(t, srv, srv.RootToken()))
	srv.Write(t, "secret/app", map[string]any{
		"number": 12345678901234, "bool": true, "object": map[string]any{"k": "nested-secret-0123456789"},
		"null": nil, "good": "good-value-0123456789",
	})
	for field, want := range map[string]string{"number": "JSON number", "bool": "JSON boolean", "object": "JSON object", "null": "JSON null"} {
		res := src.Fetch(context.Background(), []secret.Ref{srv.Ref("app", field), srv.Ref("app", "good")})
		require.ErrorIs(t, res[0].Err, vault.ErrNotString, field)
		require.Contains(t, res[0].Err.Error(), want)
		require.Contains(t, res[0].Err.Error(), "secret/app#"+field)
		require.NotContains(t, res[0].Err.Error(), "12345678901234")
		require.NotContains(t, res[0].Err.Error(), "nested-secret")
		require.NoError(t, res[1].Err)
	}
	res := fetchOne(t, src, srv.Ref("app", "absent"))
	require.ErrorIs(t, res.Err, vault.ErrNoField)
	require.Contains(t, res.Err.Error(), "vault:secret/app#absent")

	res = fetchOne(t, src, mustRef(t, "vault:nomount/app#key"))
	require.ErrorIs(t, res.Err, vault.ErrNotFound, "a mount that does not exist reads as no secret")

	res = src.Fetch(context.Background(), []secret.Ref{mustRef(t, "env:NOT_VAULT")})[0]
	require.ErrorContains(t, res.Err, "not a vault:MOUNT/PATH#FIELD reference")
}

func TestFetchDeletedAndDestroyedVersions(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	src := newSource(t, tokenOptions(t, srv, srv.RootToken()))
	srv.Write(t, "secret/soft", map[string]any{"key": "soft-deleted-value-0123"})
	srv.Write(t, "secret/hard", map[string]any{"key": "destroyed-value-012345"})
	srv.SoftDelete(t, "secret/soft")
	srv.Destroy(t, "secret/hard")
	res := src.Fetch(context.Background(), []secret.Ref{srv.Ref("soft", "key"), srv.Ref("hard", "key")})
	require.ErrorIs(t, res[0].Err, vault.ErrDeleted)
	require.Contains(t, res[0].Err.Error(), "vault:secret/soft#key")
	require.ErrorIs(t, res[1].Err, vault.ErrDestroyed)
	for _, r := range res {
		require.True(t, r.Value.IsZero())
	}
	// A new version heals it.
	srv.Write(t, "secret/soft", map[string]any{"key": "rewritten-value-0123456"})
	r := fetchOne(t, src, srv.Ref("soft", "key"))
	require.NoError(t, r.Err)
	require.Equal(t, "2", r.Version)
}

// TestFetchScheduledDeletion: delete_version_after gives versions a
// deletion_time ahead; until then the value works, with a warning.
func TestFetchScheduledDeletion(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Now())
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk, DeleteVersionAfter: 48 * time.Hour})
	src := newSource(t, tokenOptions(t, srv, srv.RootToken()))
	srv.Write(t, "secret/app", map[string]any{"key": "expiring-value-0123456"})
	r := fetchOne(t, src, srv.Ref("app", "key"))
	require.NoError(t, r.Err)
	require.Len(t, r.Warnings, 1)
	require.Contains(t, r.Warnings[0], "scheduled for deletion")
	require.NotContains(t, r.Warnings[0], "expiring-value")
	clk.Advance(49 * time.Hour)
	r = fetchOne(t, src, srv.Ref("app", "key"))
	require.ErrorIs(t, r.Err, vault.ErrDeleted)
}

// TestFetchRefusesAnOversizedAnswer: an answer past 1 MiB is an error,
// not a value, and is not read into memory.
func TestFetchRefusesAnOversizedAnswer(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	src := newSource(t, tokenOptions(t, srv, srv.RootToken()))
	srv.Write(t, "secret/big", map[string]any{"key": strings.Repeat("k", 2<<20)})
	r := fetchOne(t, src, srv.Ref("big", "key"))
	require.ErrorIs(t, r.Err, vault.ErrBodyTooLarge)
	require.Less(t, len(r.Err.Error()), 400)
}

// TestFetchPermissionDenied: a revoked token fails every reference with
// an error that names the reference and the status, not the token.
func TestFetchPermissionDenied(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	src := newSource(t, tokenOptions(t, srv, tok))
	srv.Write(t, "secret/app", map[string]any{"key": "revoked-value-0123456789"})
	srv.Revoke(tok)
	r := fetchOne(t, src, srv.Ref("app", "key"))
	var se *vault.StatusError
	require.ErrorAs(t, r.Err, &se)
	require.Equal(t, 403, se.Code)
	require.Contains(t, r.Err.Error(), "vault:secret/app#key")
	require.Contains(t, r.Err.Error(), "permission denied")
	require.NotContains(t, r.Err.Error(), tok)
}
