package vaulttest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
)

// These tests drive the fake with the real github.com/hashicorp/vault/api
// client: what it parses is what the documented API returns.

func client(t *testing.T, srv *vaulttest.Server, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL()
	cfg.MaxRetries = 0
	require.NoError(t, cfg.ConfigureTLS(&api.TLSConfig{CACert: srv.CAFile(t)}))
	c, err := api.NewClient(cfg)
	require.NoError(t, err)
	c.SetToken(token)
	c.ClearNamespace()
	return c
}

func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func TestKVVersion2(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	kv := client(t, srv, srv.RootToken()).KVv2("secret")
	ctx := context.Background()

	_, err := kv.Get(ctx, "app")
	require.ErrorIs(t, err, api.ErrSecretNotFound)

	w, err := kv.Put(ctx, "app", map[string]any{"key": "v1"})
	require.NoError(t, err)
	require.Equal(t, 1, w.VersionMetadata.Version)
	clk.Advance(time.Minute)
	_, err = kv.Put(ctx, "app", map[string]any{"key": "v2", "n": 7})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "app", map[string]any{"key": "x"}, api.WithCheckAndSet(1))
	require.Equal(t, http.StatusBadRequest, statusOf(err), "cas must match the current version")

	got, err := kv.Get(ctx, "app")
	require.NoError(t, err)
	require.Equal(t, "v2", got.Data["key"])
	require.Equal(t, 2, got.VersionMetadata.Version)
	require.True(t, got.VersionMetadata.CreatedTime.Equal(clk.Now()))
	require.True(t, got.VersionMetadata.DeletionTime.IsZero())

	require.NoError(t, kv.Delete(ctx, "app"))
	got, err = kv.Get(ctx, "app")
	require.NoError(t, err, "a deleted version reads as data null with its metadata")
	require.Nil(t, got.Data)
	require.False(t, got.VersionMetadata.DeletionTime.IsZero())

	_, err = kv.Put(ctx, "app", map[string]any{"key": "v3"})
	require.NoError(t, err)
	require.NoError(t, kv.Destroy(ctx, "app", []int{3}))
	got, err = kv.Get(ctx, "app")
	require.NoError(t, err)
	require.Nil(t, got.Data)
	require.True(t, got.VersionMetadata.Destroyed)

	require.NoError(t, kv.DeleteMetadata(ctx, "app"))
	_, err = kv.Get(ctx, "app")
	require.ErrorIs(t, err, api.ErrSecretNotFound)
	require.Equal(t, 3, srv.Counts().Writes)
}

func TestTokens(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Now())
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	ctx := context.Background()
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour, MaxTTL: 90 * time.Minute})
	c := client(t, srv, tok)

	look, err := c.Auth().Token().LookupSelfWithContext(ctx)
	require.NoError(t, err)
	ttl, err := look.TokenTTL()
	require.NoError(t, err)
	require.Equal(t, time.Hour, ttl)
	renewable, err := look.TokenIsRenewable()
	require.NoError(t, err)
	require.True(t, renewable)
	require.NotNil(t, look.Data["expire_time"])

	clk.Advance(45 * time.Minute)
	r, err := c.Auth().Token().RenewSelfWithContext(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, 45*60, r.Auth.LeaseDuration, "capped at the max TTL: 90m from issue")
	require.NotEmpty(t, r.Warnings)
	require.Equal(t, 1, srv.Counts().Renewals)

	clk.Advance(46 * time.Minute)
	_, err = c.Auth().Token().LookupSelfWithContext(ctx)
	require.Equal(t, http.StatusForbidden, statusOf(err), "past its max TTL the token is gone")

	fixed := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour, NotRenewable: true})
	_, err = client(t, srv, fixed).Auth().Token().RenewSelfWithContext(ctx, 0)
	require.Equal(t, http.StatusBadRequest, statusOf(err))

	revoked := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	srv.Revoke(revoked)
	_, err = client(t, srv, revoked).Auth().Token().LookupSelfWithContext(ctx)
	require.Equal(t, http.StatusForbidden, statusOf(err))

	gone := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour})
	require.NoError(t, client(t, srv, gone).Auth().Token().RevokeSelfWithContext(ctx, ""))
	require.Equal(t, []string{gone}, srv.SelfRevoked())
	require.Equal(t, 1, srv.Counts().Revocations)
	_, err = client(t, srv, gone).Auth().Token().LookupSelfWithContext(ctx)
	require.Equal(t, http.StatusForbidden, statusOf(err), "a token revoked by revoke-self is refused")
	err = client(t, srv, gone).Auth().Token().RevokeSelfWithContext(ctx, "")
	require.Equal(t, http.StatusForbidden, statusOf(err), "and cannot revoke itself twice")

	_, err = client(t, srv, "").KVv2("secret").Get(ctx, "app")
	require.Equal(t, http.StatusForbidden, statusOf(err), "no token, no read")

	look, err = client(t, srv, srv.RootToken()).Auth().Token().LookupSelfWithContext(ctx)
	require.NoError(t, err)
	ttl, _ = look.TokenTTL()
	require.Zero(t, ttl, "the root token does not expire")
	require.Nil(t, look.Data["expire_time"])
	require.Contains(t, srv.Tokens(), tok)
}

func TestLogins(t *testing.T) {
	t.Parallel()
	srv := vaulttest.NewServer(t, vaulttest.Options{})
	ctx := context.Background()
	srv.SetAppRole(vaulttest.AppRole{Mount: "approle-prod", RoleID: "rid", SecretID: "sid",
		Token: vaulttest.TokenOptions{TTL: 20 * time.Minute}})
	srv.SetKubernetesRole(vaulttest.KubernetesRole{Role: "gw", JWT: "a.b.c"})

	c := client(t, srv, "")
	ar, err := approle.NewAppRoleAuth("rid", &approle.SecretID{FromString: "sid"}, approle.WithMountPath("approle-prod"))
	require.NoError(t, err)
	sec, err := c.Auth().Login(ctx, ar)
	require.NoError(t, err)
	require.Equal(t, 20*60, sec.Auth.LeaseDuration)
	require.True(t, sec.Auth.Renewable)
	_, err = c.KVv2("secret").Put(ctx, "x", map[string]any{"k": "v"})
	require.NoError(t, err, "the login's token works")

	bad, err := approle.NewAppRoleAuth("rid", &approle.SecretID{FromString: "wrong"}, approle.WithMountPath("approle-prod"))
	require.NoError(t, err)
	_, err = client(t, srv, "").Auth().Login(ctx, bad)
	require.Equal(t, http.StatusBadRequest, statusOf(err))

	k, err := kubernetes.NewKubernetesAuth("gw", kubernetes.WithServiceAccountToken("a.b.c"))
	require.NoError(t, err)
	_, err = client(t, srv, "").Auth().Login(ctx, k)
	require.NoError(t, err)
	k, err = kubernetes.NewKubernetesAuth("gw", kubernetes.WithServiceAccountToken("stale.jwt.x"))
	require.NoError(t, err)
	_, err = client(t, srv, "").Auth().Login(ctx, k)
	require.Equal(t, http.StatusForbidden, statusOf(err))

	require.Equal(t, vaulttest.Counts{Requests: 5, Writes: 1, Logins: 2, FailedLogins: 2}, srv.Counts())
}

func TestNamespaceWrappingAndFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := vaulttest.NewServer(t, vaulttest.Options{Namespace: "team-a"})
	c := client(t, srv, srv.RootToken())
	_, err := c.Auth().Token().LookupSelfWithContext(ctx)
	require.Equal(t, http.StatusForbidden, statusOf(err), "the namespace is required")
	c.SetNamespace("team-a")
	_, err = c.Auth().Token().LookupSelfWithContext(ctx)
	require.NoError(t, err)
	_, err = c.WithNamespace("team-b").Auth().Token().LookupSelfWithContext(ctx)
	require.Equal(t, http.StatusForbidden, statusOf(err))

	c.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	_, err = c.Auth().Token().LookupSelfWithContext(ctx)
	require.Equal(t, http.StatusBadRequest, statusOf(err), "response wrapping is refused, not ignored")

	sealed := vaulttest.NewServer(t, vaulttest.Options{})
	sealed.Fail(t, true)
	_, err = client(t, sealed, sealed.RootToken()).Auth().Token().LookupSelfWithContext(ctx)
	require.Equal(t, http.StatusServiceUnavailable, statusOf(err))

	gone := vaulttest.NewServer(t, vaulttest.Options{FailMode: vaulttest.FailClose})
	gone.Fail(t, true)
	_, err = client(t, gone, gone.RootToken()).Auth().Token().LookupSelfWithContext(ctx)
	require.Error(t, err)
	require.Zero(t, statusOf(err), "the connection drops: there is no answer")
	gone.Fail(t, false)
	_, err = client(t, gone, gone.RootToken()).Auth().Token().LookupSelfWithContext(ctx)
	require.NoError(t, err)
}

// TestBatchTokens: a batch token is prefixed hvb., says token_type batch,
// cannot be renewed, and revoke-self answers it 400 and leaves it alive, as
// Vault's token store does; it expires at its TTL.
func TestBatchTokens(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Now())
	srv := vaulttest.NewServer(t, vaulttest.Options{Clock: clk})
	ctx := context.Background()
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: time.Hour, Batch: true})
	require.True(t, strings.HasPrefix(tok, "hvb."))
	c := client(t, srv, tok)

	look, err := c.Auth().Token().LookupSelfWithContext(ctx)
	require.NoError(t, err)
	require.Equal(t, "batch", look.Data["type"])
	renewable, err := look.TokenIsRenewable()
	require.NoError(t, err)
	require.False(t, renewable)
	_, err = c.Auth().Token().RenewSelfWithContext(ctx, 0)
	require.Equal(t, http.StatusBadRequest, statusOf(err))

	err = c.Auth().Token().RevokeSelfWithContext(ctx, "")
	require.Equal(t, http.StatusBadRequest, statusOf(err), "batch tokens cannot be revoked")
	require.Empty(t, srv.SelfRevoked())
	_, err = c.Auth().Token().LookupSelfWithContext(ctx)
	require.NoError(t, err, "and it stays alive")
	clk.Advance(time.Hour)
	_, err = c.Auth().Token().LookupSelfWithContext(ctx)
	require.Equal(t, http.StatusForbidden, statusOf(err), "until its TTL")
}
