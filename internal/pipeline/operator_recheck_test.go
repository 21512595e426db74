package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// duringCheck runs hook while the auth check is in flight, then accepts.
type duringCheck struct{ hook func() }

func (c *duringCheck) CheckAuth(context.Context, secret.Value) error { c.hook(); return nil }

// An operator revokes a key (it leaked) while the re-check of its earlier
// auth_check revocation is in flight: the check passes, and the key must
// still stay revoked — the operator decided, not the vendor.
func TestRecheckNeverLiftsAnOperatorRevocation(t *testing.T) {
	t.Parallel()
	check := &scriptedCheck{answers: []error{upErr(upstream.KindAuth, 401, 0)}}
	f := newFixture(t, fixtureOptions{keys: 2, check: check, answers: []error{upErr(upstream.KindAuth, 401, 0)}})
	_, err := f.p.Lookup(context.Background(), "prod", req)
	require.NoError(t, err)
	require.True(t, revoked(t, f, "ka"))
	state := map[string]*recheck{}
	f.p.recheckOnce(context.Background(), state)
	f.clock.Advance(time.Minute)
	f.p.o.Check = &duringCheck{hook: func() {
		if err := f.gov.RevokeByOperator(context.Background(), "se", "ka"); err != nil {
			panic(err) // on the test goroutine: recheckOnce runs the check inline
		}
	}}
	f.p.recheckOnce(context.Background(), state)
	byOp, err := f.gov.RevokedByOperator(context.Background(), "se", "ka")
	require.NoError(t, err)
	require.True(t, byOp)
	require.True(t, revoked(t, f, "ka"), "the operator's revocation was lifted by the re-check")
}
