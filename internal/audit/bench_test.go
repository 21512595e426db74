package audit_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/store/postgres"
)

func benchRecords(n int) []audit.Record {
	recs := make([]audit.Record, n)
	for i := range recs {
		recs[i] = audit.Record{Time: time.Now(), Kind: audit.KindProviderResult, RequestID: "0123456789abcdef01234567",
			Client: "siem", Environment: "prod", Operation: "lookup", Provider: "socialeye", KeyID: "prod-1",
			Outcome: "ok", Cache: "miss", UpstreamStatus: 200, LatencyMicros: 12345, Attempts: 1, Units: 1}
	}
	return recs
}

// BenchmarkAppend measures what the chain costs per record: one
// transaction per batch, which locks the head row, reads the last hash,
// inserts the batch and moves the head. "replicas=3" appends from three
// stores (three gateways) on one PostgreSQL schema at once, so the head
// row lock is contended. Report: ns/op per batch, and records/s.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 256} {
		b.Run("sqlite/batch="+itoa(batch), func(b *testing.B) {
			as := audit.NewStore(openSQLite(b), testKeys(b))
			runAppend(b, []*audit.Store{as}, batch)
		})
		for _, replicas := range []int{1, 3} {
			b.Run("postgres/replicas="+itoa(replicas)+"/batch="+itoa(batch), func(b *testing.B) {
				schema := pgtest.New(b)
				var stores []*audit.Store
				for range replicas {
					st, err := postgres.Open(b.Context(), schema.DSN, postgres.Options{})
					require.NoError(b, err)
					b.Cleanup(func() { _ = st.Close() })
					stores = append(stores, audit.NewStore(st, testKeys(b)))
				}
				runAppend(b, stores, batch)
			})
		}
	}
}

func runAppend(b *testing.B, stores []*audit.Store, batch int) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + len(stores) - 1) / len(stores)
	for _, as := range stores {
		wg.Go(func() {
			for range per {
				if err := as.Append(b.Context(), benchRecords(batch)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	total := float64(per * len(stores) * batch)
	b.ReportMetric(total/time.Since(start).Seconds(), "records/s")
	rep, err := stores[0].Verify(b.Context(), audit.VerifyOptions{})
	require.NoError(b, err)
	require.Nil(b, rep.Problem)
}

func itoa(n int) string { return strconv.Itoa(n) }
