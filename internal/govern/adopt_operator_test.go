package govern_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/govern/memory"
	"github.com/intelgate/intelgate/internal/secret"
)

// A data-at-rest key rotation renames every fingerprint: AdoptRevocation
// carries an operator revocation to the new name as an operator one, or
// after the restart it would look like an auth_check one, which the first
// passing re-check lifts.
func TestAdoptRevocationKeepsTheOperatorsMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memory.New(memory.Options{})
	keys := []govern.Key{{ID: "k1", Environment: "prod", Value: secret.NewValue("leaked-secret-value-0001")}}
	fpOld := func(v secret.Value) string { return "old-" + v.Reveal()[:6] }
	fpNew := func(v secret.Value) string { return "new-" + v.Reveal()[:6] }
	g1, err := govern.New(govern.Options{State: st, Fingerprint: fpOld}, []govern.Policy{{Provider: "se", Keys: keys}}, nil)
	require.NoError(t, err)
	require.NoError(t, g1.RevokeByOperator(ctx, "se", "k1"))

	g2, err := govern.New(govern.Options{State: st, Fingerprint: fpNew}, []govern.Policy{{Provider: "se", Keys: keys}}, nil)
	require.NoError(t, err)
	_, err = g2.AdoptRevocation(ctx, "se", "k1", []string{fpOld(keys[0].Value)})
	require.NoError(t, err)
	rev, err := g2.Revoked(ctx, "se", "k1")
	require.NoError(t, err)
	require.True(t, rev)
	byOp, err := g2.RevokedByOperator(ctx, "se", "k1")
	require.NoError(t, err)
	require.True(t, byOp, "the operator marker was not carried: the re-check may now lift the revocation")
}
