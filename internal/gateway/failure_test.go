package gateway

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/lookup"
)

// TestEveryFailureKindHasItsProblem: the one table from the lookup
// service's failure kinds to problems covers every kind, and a kind is its
// problem's slug — the contract's stable name — so audit, metrics and the
// HTTP answer say the same thing.
func TestEveryFailureKindHasItsProblem(t *testing.T) {
	t.Parallel()
	require.Len(t, failureKinds, len(lookup.Kinds()), "a mapped kind the service does not list")
	for _, k := range lookup.Kinds() {
		pk, ok := failureKinds[k]
		require.True(t, ok, "kind %s has no problem", k)
		require.Equal(t, string(k), pk.slug)
		p := failureProblem(&lookup.Failure{Kind: k, Detail: "d", Parameter: "indicator", RetryAfter: 3 * time.Second})
		require.Equal(t, problemBase+string(k), p.Type)
		require.Equal(t, "d", p.Detail)
		require.Equal(t, "indicator", p.Parameter)
		require.Equal(t, 3*time.Second, p.retryAfter)
	}
}

// A failure the service did not classify is internal, and says nothing of
// its cause.
func TestUnclassifiedFailureIsInternal(t *testing.T) {
	t.Parallel()
	for _, err := range []error{errors.New("postgres://user:pw@db down"), (*lookup.Failure)(nil),
		&lookup.Failure{Kind: "made-up"}} {
		p := failureProblem(err)
		require.Equal(t, http.StatusInternalServerError, p.Status)
		require.NotContains(t, p.Detail, "pw")
	}
}
