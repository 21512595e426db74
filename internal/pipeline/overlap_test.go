package pipeline

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
	"github.com/intelgate/intelgate/internal/secret"
)

// A key rotated in the secret store before the vendor activated the new
// secret: within rotation.overlap the refused lookup is made again with
// the previous secret (on a unit of its own), the key is not made suspect,
// and the next lookups go to the previous secret at once. When the vendor
// switches, the previous secret's refusal sends the lookup back to the
// new one, again without failing it.
func TestOverlapStrandsNoRequest(t *testing.T) {
	t.Parallel()
	const oldSecret, newSecret = "old-secret-of-k1-aaaa", "new-secret-of-k1-bbbb"
	v := &vendor{dead: map[string]bool{newSecret: true}} // not activated yet
	k := key("k1", newSecret)
	k.Previous = secret.NewValue(oldSecret)
	p, gov, rec := vendorPipeline(t, v, nil, k)
	ctx := context.Background()
	used := func() int64 {
		st, err := gov.ProviderStatus(ctx, "se", "prod")
		require.NoError(t, err)
		return st[0].Day.Used
	}

	out, err := p.Lookup(ctx, "prod", ipReq)
	require.NoError(t, err, "the previous secret answers")
	require.Equal(t, 2, out.Attempts)
	require.Equal(t, 2, out.Units)
	require.Equal(t, int64(2), used(), "both calls were counted")
	require.Empty(t, observetest.Of[observe.KeyChecked](rec), "a refusal within the overlap does not make the key suspect")

	out, err = p.Lookup(ctx, "prod", ipReq)
	require.NoError(t, err)
	require.Equal(t, 1, out.Attempts, "straight to the previous secret while the new one is refused")

	v.dead = map[string]bool{oldSecret: true} // the vendor switched
	out, err = p.Lookup(ctx, "prod", ipReq)
	require.NoError(t, err, "the new secret answers once the previous one is refused")
	require.Equal(t, 2, out.Attempts)
	out, err = p.Lookup(ctx, "prod", ipReq)
	require.NoError(t, err)
	require.Equal(t, 1, out.Attempts, "back on the new secret")
	revoked, err := gov.Revoked(ctx, "se", "k1")
	require.NoError(t, err)
	require.False(t, revoked)
	require.Empty(t, observetest.Of[observe.KeyChecked](rec))

	// Overlap over: the pool no longer holds the previous secret, and a
	// refusal of the current one is a suspect key as always.
	require.NoError(t, gov.SwapKeys("se", []govern.Key{key("k1", newSecret)}))
	v.dead = map[string]bool{newSecret: true}
	out, err = p.Lookup(ctx, "prod", ipReq)
	require.Error(t, err)
	require.Equal(t, 1, out.Attempts)
	require.NotEmpty(t, observetest.Of[observe.KeyChecked](rec), "outside the overlap a refusal is checked")
}
