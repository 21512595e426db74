package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/pipeline"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/secret"
)

// domains is a provider of domains; the service calls it through the
// Caller below.
type domains struct{}

func (domains) Name() string                   { return "socialeye" }
func (domains) Supports(t indicator.Type) bool { return t == indicator.Domain }
func (domains) Lookup(context.Context, provider.Request, secret.Value) (provider.Result, error) {
	panic("called through the Caller")
}

type answering struct{}

func (answering) Call(context.Context, string, string, provider.Request) (pipeline.Outcome, error) {
	return pipeline.Outcome{Result: provider.Result{Data: json.RawMessage(`{}`), Status: 200}, KeyID: "k", Attempts: 1, Units: 1,
		UpstreamStatus: 200}, nil
}

// A burst of lookups against a database that does not answer: every
// lookup completes (none waits on the audit log — the test would hang),
// what does not fit the queue is counted as dropped, and once the
// database answers, the log says how many, in the chain.
func TestLookupsNeverWaitOnASlowStore(t *testing.T) {
	t.Parallel()
	db := newGatedDB(openSQLite(t))
	as := audit.NewStore(db, testKeys(t))
	obs := &counter{}
	l, err := audit.NewLog(audit.Options{Store: as, QueueSize: 32, BatchSize: 8, FlushEvery: time.Millisecond, Observer: obs, Log: discard})
	require.NoError(t, err)
	rec, err := audit.NewRecorder(l, testKeys(t), audit.IndicatorsHMAC)
	require.NoError(t, err)
	svc, err := lookup.New(lookup.Options{Providers: []provider.Provider{domains{}}, Caller: answering{}, Auditor: rec})
	require.NoError(t, err)
	stop := runLog(t, l)
	id := lookup.Identity{Client: "siem", Environment: "prod", Providers: []string{"socialeye"}, RequestID: "r"}

	const burst = 500
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() {
			res, err := svc.Lookup(t.Context(), id, lookup.Request{Indicator: fmt.Sprintf("h%d.example.org", i)})
			if err != nil || res.Outcomes[0].Status != lookup.StatusOK {
				t.Errorf("lookup %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	_, dropped, _ := obs.get()
	require.Positive(t, dropped, "a stuck database and a queue of 32: most of the 1000 records cannot wait")
	close(db.gate)
	require.NoError(t, stop())
	kinds := countKinds(t, as)
	require.EqualValues(t, 2*burst, kinds[audit.KindLookup]+kinds[audit.KindProviderResult]+kinds["dropped_count"],
		"each lookup's two records are written or counted as dropped")
	require.EqualValues(t, dropped, kinds["dropped_count"])
}
