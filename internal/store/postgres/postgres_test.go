package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/intelgate/intelgate/internal/leak"
	"github.com/intelgate/intelgate/internal/pgtest"
	"github.com/intelgate/intelgate/internal/redistest"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/migrate"
	"github.com/intelgate/intelgate/internal/store/postgres"
	"github.com/intelgate/intelgate/internal/store/storetest"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// Subscribe that outlives its context, or a pool nobody closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOpTimeout is generous: these tests check behaviour, not latency, on
// a loaded 2-core CI machine under -race (timeouts have their own test).
const testOpTimeout = 30 * time.Second

// open opens a store on dsn, closed when the test ends. Open itself gets
// testOpTimeout (its context's deadline wins over o.OpTimeout), so tests
// of short timeouts do not have to migrate within them.
func open(t *testing.T, dsn string, o postgres.Options) *postgres.Store {
	t.Helper()
	if o.OpTimeout == 0 {
		o.OpTimeout = testOpTimeout
	}
	ctx, cancel := context.WithTimeout(t.Context(), testOpTimeout)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.DSN(t), postgres.Options{})
	})
}

// TestOpenErrorsHideThePassword: an unreachable server or a DSN that does
// not parse fails Open with an error that says what failed and holds the
// password in no encoding.
func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	const password = "s3cretpw"
	tests := []struct {
		name, dsn string
		want      []string // in the message
	}{
		{"url unreachable", "postgres://u:" + password + "@127.0.0.1:1/db", []string{"opening postgres store", "127.0.0.1", "port 1", "connect"}},
		{"keyword unreachable", "password=" + password + " host=127.0.0.1 port=1", []string{"opening postgres store", "127.0.0.1", "connect"}},
		{"url bad port", "postgres://u:" + password + "@127.0.0.1:notaport/db", []string{"not a valid connection string"}},
		{"url bad sslmode", "postgres://u:" + password + "@127.0.0.1:1/db?sslmode=bogus", []string{"not a valid connection string"}},
		{"keyword unterminated quote", "host=127.0.0.1 password='" + password, []string{"not a valid connection string"}},
		// libpq forms pgx's own redaction misses (a review found them).
		{"keyword spaced", "host=db password = " + password + " port=notaport", []string{"not a valid connection string"}},
		{"keyword space after", "host=db password= " + password + " port=notaport", []string{"not a valid connection string"}},
		{"keyword escaped space", `host=db password=s3\ cretpw port=notaport`, []string{"not a valid connection string"}},
		{"keyword quoted spaced", "host=db password = '" + password + "' port=notaport", []string{"not a valid connection string"}},
		{"url percent-encoded", "postgres://u:s3cret%70w@127.0.0.1:1/db", []string{"opening postgres store"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), testOpTimeout)
			defer cancel()
			s, err := postgres.Open(ctx, tc.dsn, postgres.Options{})
			require.Error(t, err)
			require.Nil(t, s)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			for _, form := range append(leak.Forms(password), "s3cret%70w", "cretpw") {
				require.NotContains(t, err.Error(), form)
			}
		})
	}
}

// TestOpenTimesOut: a server that never answers fails Open within
// OpTimeout when ctx has no deadline.
func TestOpenTimesOut(t *testing.T) {
	t.Parallel()
	hole := redistest.NewBlackHole(t).Addr() // any TCP server that never answers
	start := time.Now()
	_, err := postgres.Open(context.Background(), "postgres://u:pw@"+hole+"/db?connect_timeout=0", postgres.Options{OpTimeout: 200 * time.Millisecond})
	require.Error(t, err)
	// The bound is OpTimeout; the slack covers a loaded machine, and is
	// far below pgx's own default connect timeout (none).
	require.Less(t, time.Since(start), 10*time.Second)
}

// TestSchemaTooNewRefused: a schema migrated by a newer intelgate is not
// used.
func TestSchemaTooNewRefused(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := open(t, dsn, postgres.Options{})
	require.NoError(t, s.Close())
	c := pgtest.Conn(t, dsn)
	_, err := c.Exec(t.Context(), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 'x')")
	require.NoError(t, err)
	_, err = postgres.Open(t.Context(), dsn, postgres.Options{OpTimeout: testOpTimeout})
	require.ErrorIs(t, err, migrate.ErrSchemaTooNew)
}

// TestOpenMissingSchema: a search_path naming no existing schema is
// refused with a message that says so, not a failure of the first
// CREATE TABLE.
func TestOpenMissingSchema(t *testing.T) {
	t.Parallel()
	dsn, err := pgtest.WithSearchPath(pgtest.BaseDSN(t), "pgtest_no_such_schema")
	require.NoError(t, err)
	_, err = postgres.Open(t.Context(), dsn, postgres.Options{OpTimeout: testOpTimeout})
	require.ErrorContains(t, err, "search_path")
}

// TestConcurrentMigrations: replicas starting at once on an empty schema
// all succeed, and the schema holds one history: the advisory lock lets
// one migrate while the others wait, then find nothing to do.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const replicas = 3
	stores := make(chan *postgres.Store, replicas)
	errs := make(chan error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range replicas {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(t.Context(), dsn, postgres.Options{OpTimeout: testOpTimeout})
			if err != nil {
				errs <- err
				return
			}
			stores <- s
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	close(stores)
	for s := range stores {
		t.Cleanup(func() { _ = s.Close() })
	}
	for err := range errs {
		require.NoError(t, err)
	}
	c := pgtest.Conn(t, dsn)
	var n, distinct, maxVersion int
	require.NoError(t, c.QueryRow(t.Context(), "SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations").Scan(&n, &distinct, &maxVersion))
	require.Equal(t, n, distinct)
	require.Equal(t, maxVersion, n, "versions 1..n, each once")
	require.GreaterOrEqual(t, n, 6)
	var heads int
	require.NoError(t, c.QueryRow(t.Context(), "SELECT count(*) FROM audit_head").Scan(&heads))
	require.Equal(t, 1, heads, "the head row was inserted once")
}

// TestTimesAreTimestamptz pins the schema's column types: every time is a
// timestamptz, every blob a bytea, every counter a bigint.
func TestTimesAreTimestamptz(t *testing.T) {
	t.Parallel()
	sc := pgtest.New(t)
	open(t, sc.DSN, postgres.Options{})
	rows, err := pgtest.Conn(t, sc.DSN).Query(t.Context(), `
		SELECT table_name || '.' || column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name <> 'schema_migrations'`, sc.Name)
	require.NoError(t, err)
	types, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var c [2]string
		return c, r.Scan(&c[0], &c[1])
	})
	require.NoError(t, err)
	got := map[string]string{}
	for _, c := range types {
		got[c[0]] = c[1]
	}
	for col, want := range map[string]string{
		"client_seen.last_seen": "timestamp with time zone", "key_fingerprints.first_seen": "timestamp with time zone",
		"key_fingerprints.updated_at": "timestamp with time zone", "quota_usage.expires_at": "timestamp with time zone",
		"quota_usage.used": "bigint", "cache_records.body": "bytea", "cache_records.expires_at": "timestamp with time zone",
		"cache_purges.published_at": "timestamp with time zone", "cache_purges.id": "bigint",
		"audit_records.seq": "bigint", "audit_records.at": "timestamp with time zone", "audit_records.record": "text",
		"audit_head.seq": "bigint", "audit_head.anchor_seq": "bigint", "pauses.until": "timestamp with time zone",
	} {
		require.Equal(t, want, got[col], col)
	}
	for col, typ := range got {
		if strings.HasSuffix(col, "_at") || strings.HasSuffix(col, "_seen") {
			require.Equal(t, "timestamp with time zone", typ, col)
		}
	}
}

// TestOnError: failures are reported with the method's name; a canceled
// context is not a failure of the store.
func TestOnError(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ops []string
	s := open(t, pgtest.DSN(t), postgres.Options{OnError: func(op string) {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, op)
	}})
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ops...)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.Error(t, s.TouchClient(ctx, "siem", "10.0.0.1", time.Now()))
	require.Error(t, s.Ping(ctx))
	require.Empty(t, got(), "cancellation is not counted")

	require.Error(t, s.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ExecContext(ctx, "SELECT * FROM no_such_table")
		return err
	}))
	_, err := s.Sweep(t.Context(), "bogus", time.Now(), 1)
	require.Error(t, err)
	require.Equal(t, []string{"InTx", "Sweep"}, got())

	// A deadline is the store being slow: counted.
	dctx, dcancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer dcancel()
	<-dctx.Done()
	_, _, _, err = s.ClientLastSeen(dctx, "siem")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, s.Close())
	require.Error(t, s.Ping(t.Context()))
	require.Equal(t, []string{"InTx", "Sweep", "ClientLastSeen", "Ping"}, got())
}

// TestOpTimeoutBoundsCalls: a call whose context has no deadline gets
// OpTimeout; one whose context has a deadline keeps it.
func TestOpTimeoutBoundsCalls(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t), postgres.Options{OpTimeout: 300 * time.Millisecond})
	sleep := func(ctx context.Context) error {
		return s.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.ExecContext(ctx, "SELECT pg_sleep(5)")
			return err
		})
	}
	start := time.Now()
	err := sleep(context.Background())
	require.Error(t, err)
	require.Less(t, time.Since(start), 4*time.Second, "cut at OpTimeout, long before the sleep ends")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ExecContext(ctx, "SELECT pg_sleep(0.6)") // twice OpTimeout
		return err
	}), "the caller's own deadline wins over OpTimeout")

	// Every other method is cut at OpTimeout even when the caller's
	// deadline is later: a request's deadline covers the whole request.
	start = time.Now()
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ExecContext(ctx, "SELECT pg_sleep(5)")
		return err
	})
	require.Error(t, err)
	require.Less(t, time.Since(start), 4*time.Second, "InTx cut at OpTimeout despite the caller's 20s")
}

// TestInTxAcrossReplicas: read-then-write transactions of two stores on
// one schema (two replicas) lose no update: InTx's lock is the schema's,
// not the process's.
func TestInTxAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, postgres.Options{}), open(t, dsn, postgres.Options{})
	ctx := t.Context()
	require.NoError(t, a.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE counter (n INT NOT NULL); INSERT INTO counter VALUES (0)")
		return err
	}))
	const goroutines, each = 8, 10
	errs := make(chan error, goroutines*each)
	var wg sync.WaitGroup
	for g := range goroutines {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range each {
				errs <- s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					var n int
					if err := tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, "UPDATE counter SET n = $1", n+1)
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, pgtest.Conn(t, dsn).QueryRow(ctx, "SELECT n FROM counter").Scan(&n))
	require.Equal(t, goroutines*each, n)
}

// TestInTxOtherSchemaNotBlocked: a transaction holding one schema's InTx
// lock does not block InTx in another schema.
func TestInTxOtherSchemaNotBlocked(t *testing.T) {
	t.Parallel()
	a, b := open(t, pgtest.DSN(t), postgres.Options{}), open(t, pgtest.DSN(t), postgres.Options{})
	ctx := t.Context()
	err := a.InTx(ctx, func(context.Context, store.Tx) error {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return b.InTx(bctx, func(context.Context, store.Tx) error { return nil })
	})
	require.NoError(t, err)

	// The same schema's second InTx waits for the first: with a's held,
	// a replica's attempt runs out of time.
	dsn := pgtest.DSN(t)
	c, d := open(t, dsn, postgres.Options{}), open(t, dsn, postgres.Options{})
	err = c.InTx(ctx, func(context.Context, store.Tx) error {
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		return d.InTx(dctx, func(context.Context, store.Tx) error { return nil })
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestPoolIsTheRiverSeam: Pool reaches the store's schema.
func TestPoolIsTheRiverSeam(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t), postgres.Options{MaxConns: 3})
	require.EqualValues(t, 3, s.Pool().Config().MaxConns)
	_, err := s.Pool().Exec(t.Context(), "INSERT INTO client_seen (client, last_seen, last_addr) VALUES ('siem', now(), '10.0.0.1')")
	require.NoError(t, err)
	_, addr, ok, err := s.ClientLastSeen(t.Context(), "siem")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "10.0.0.1", addr)
	require.Equal(t, store.Postgres, s.Dialect())
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is harmless")
	require.Error(t, s.Ping(t.Context()))
}
