// Package postgres is the distributed store.Store: PostgreSQL through
// pgx/v5, shared by every gateway replica.
//
// Connections. One pgxpool.Pool (Options.MaxConns) serves everything.
// Native queries use it directly; InTx, ReadTx and the migration runner
// need database/sql types (store.Tx is database/sql shaped), so a *sql.DB
// made by stdlib.OpenDBFromPool borrows connections from the same pool
// rather than opening its own. Every session starts with
// default_transaction_isolation = 'read committed', whatever the server's
// default: the statements below are written for it (see "Concurrency"),
// and a server defaulting to SERIALIZABLE would make them fail with
// serialisation errors instead of waiting for row locks.
//
// Concurrency across replicas. Each write is one statement, or one
// pipelined batch (one implicit transaction), or a short transaction
// that locks the rows it reads in key order, so replicas never lose an
// update and never deadlock each other: upserts with a condition in their
// ON CONFLICT clause (last-seen, pauses, quota), an UPDATE whose WHERE
// re-checks the old value (fingerprints), bounded DELETEs that skip
// locked rows (sweeps). InTx takes a transaction-level advisory lock (see
// tx.go), so its transactions are serialised as the store contract says.
//
// Schemas. Tables live in the session's current schema (search_path in
// the DSN, public by default), so several deployments, or parallel tests
// (internal/pgtest), can share one database. The advisory locks and the
// purge channel are keyed by that schema too: replicas of one deployment
// share them, other schemas never wait for or hear each other.
//
// Timeouts. Every method bounds its context by Options.OpTimeout, even
// when the caller's deadline is later (a request's deadline covers the
// whole request, up to a minute): a hung server costs a request at most
// OpTimeout per operation. ReadTx alone lets a caller's deadline win,
// shorter or longer: a long read (an audit export) brings its own.
//
// River. Pool is the seam for riverpgxv5.New: River shares the pool, and
// its advisory locks (the one-argument bigint form) never collide with
// ours (the two-argument form is a separate key space).
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Advisory lock classes, the first key of pg_advisory_xact_lock(int, int);
// the second is the hash of the current schema ("IG" and a number).
const (
	lockMigrate int32 = 0x49470001
	lockInTx    int32 = 0x49470002
)

// schemaLock is the statement that takes lock class c for this schema
// until the transaction ends. coalesce: with no schema of the search_path
// existing, current_schema() is NULL and the (strict) lock function would
// silently lock nothing.
func schemaLock(c int32) string {
	return fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext(coalesce(current_schema(), '')))", c)
}

// Dialect is PostgreSQL's migrate.Dialect. Lock serialises migrators:
// replicas starting together migrate one at a time, each re-reading the
// history under the lock, so each migration is applied once.
var Dialect = migrate.Dialect{
	Name:        string(store.Postgres),
	Placeholder: store.Postgres.Placeholder,
	Lock:        schemaLock(lockMigrate),
}

// Defaults of Options.
const (
	DefaultOpTimeout = 5 * time.Second
	// OpenTimeout bounds Open's connect and migrations when the caller
	// gives no deadline: a schema migration takes what it takes, a few
	// statements in a transaction each, and must not fail a start for
	// want of the request path's budget.
	OpenTimeout     = time.Minute
	DefaultMaxConns = 10
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Clock is the time quota windows and cache records expire by
	// (govern.Window.Expires is on the governor's clock, so pass the
	// governor's); nil is the system clock.
	Clock clock.Clock
	// OpTimeout bounds each method, whatever the caller's deadline; only
	// ReadTx takes a longer deadline from its caller (a long export).
	// Default DefaultOpTimeout.
	OpTimeout time.Duration
	// MaxConns is the pool's size; default DefaultMaxConns. Each running
	// Subscribe holds one of them for its LISTEN.
	MaxConns int32
	// OnError, when non-nil, is called with the method's name ("Consume",
	// "InTx", "Publish", …) each time a method fails with an error other
	// than context.Canceled, for intelgate_store_errors_total{op}. A
	// caller that went away is not the store failing; every other error
	// counts, fn's from InTx, ReadTx and Scan included (the store cannot
	// tell a failed statement inside fn from fn's own error), and each
	// lost or failed LISTEN connection counts as "Subscribe". It must be
	// fast and safe for concurrent use.
	OnError func(op string)
}

func (o Options) withDefaults() Options {
	o.Clock = clock.Or(o.Clock)
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	return o
}

// Store is the PostgreSQL store.
type Store struct {
	pool      *pgxpool.Pool
	db        *sql.DB // stdlib over pool, for store.Tx and migrate
	clock     clock.Clock
	opTimeout time.Duration
	onError   func(op string)
	// channel is this schema's purge notification channel (cachebus.go).
	channel string
	// life ends when Close starts, so a running Subscribe gives its
	// connection back and pool.Close (which waits for it) returns.
	life      context.Context
	kill      context.CancelFunc
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// ErrClosed is returned by a running Subscribe when the store is closed
// under it.
var ErrClosed = errors.New("postgres store closed")

// Open connects to the database at dsn (a postgres:// URL or key=value
// string, as libpq takes), checks that it answers, and applies pending
// migrations. Unless ctx has a deadline, connecting is bounded by
// OpTimeout (a server that does not answer fails fast) and the migrations
// by OpenTimeout (or OpTimeout if longer): OpTimeout is the request path's
// budget, and creating or migrating the schema is no request. A database
// migrated by a newer intelgate is refused with an error wrapping
// migrate.ErrSchemaTooNew. Errors never hold the DSN's password.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	o = o.withDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Nothing of pgx's message: it quotes the DSN, and its password
		// redaction misses forms libpq accepts ("password = x", escaped
		// spaces), while no parsed password exists to look for.
		return nil, errors.New("opening postgres store: the dsn is not a valid connection string (a postgres:// URL or libpq key=value pairs)")
	}
	password := cfg.ConnConfig.Password
	cfg.MaxConns = o.MaxConns
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	s, err := open(ctx, cfg, o)
	if err != nil {
		return nil, redact(fmt.Errorf("opening postgres store %s: %w", where(cfg), err), password)
	}
	return s, nil
}

func open(parent context.Context, cfg *pgxpool.Config, o Options) (*Store, error) {
	ctx, migrateCtx := parent, parent
	if _, ok := parent.Deadline(); !ok {
		var cancel, cancelMigrate context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, o.OpTimeout) // a server that does not answer fails fast
		defer cancel()
		migrateCtx, cancelMigrate = context.WithTimeout(parent, max(o.OpTimeout, OpenTimeout))
		defer cancelMigrate()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting: %w", err)
	}
	var schema *string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reading current schema: %w", err)
	}
	if schema == nil {
		pool.Close()
		return nil, errors.New("no schema of the search_path exists; create it or fix search_path")
	}
	db := stdlib.OpenDBFromPool(pool)
	ms, err := migrate.Load(mustSub(migrationFiles, "migrations"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("loading embedded migrations: %w", err), closePool(db, pool))
	}
	if _, err := migrate.Up(migrateCtx, db, ms, Dialect); err != nil {
		return nil, errors.Join(err, closePool(db, pool))
	}
	life, kill := context.WithCancel(context.Background())
	return &Store{
		pool: pool, db: db, clock: o.Clock, opTimeout: o.OpTimeout, onError: o.OnError,
		channel: purgeChannel(*schema), life: life, kill: kill,
	}, nil
}

// where names the server and database for errors: host, port, database
// and user, never the password.
func where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("(host %s port %d database %q user %q)", c.Host, c.Port, c.Database, c.User)
}

// redact is err, or, should its text hold password in any spelling a DSN
// allows (raw or percent-encoded), a plain error with each occurrence
// replaced: the chain is lost, but a secret must never reach a log.
// pgx already redacts what it quotes; this is the belt to its braces.
func redact(err error, password string) error {
	if password == "" {
		return err
	}
	msg := err.Error()
	found := false
	for _, form := range []string{password, url.QueryEscape(password), url.PathEscape(password), url.UserPassword("", password).String()[1:]} {
		if form != "" && strings.Contains(msg, form) {
			msg, found = strings.ReplaceAll(msg, form, "xxxxx"), true
		}
	}
	if !found {
		return err
	}
	return errors.New(msg)
}

func closePool(db *sql.DB, pool *pgxpool.Pool) error {
	err := db.Close()
	pool.Close()
	return err
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant embedded at build time
	}
	return sub
}

// opCtx bounds ctx by OpTimeout, whatever deadline ctx has: a request's
// own deadline is the whole request's (up to a minute), and a hung
// database must cost one operation OpTimeout at most.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// readCtx bounds a read transaction by OpTimeout unless ctx has a deadline
// of its own: a long read (verifying or exporting the audit log) states
// how long it may take.
func (s *Store) readCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opTimeout)
}

// observe reports method op's error, if any, to Options.OnError. It is
// deferred first thing with the method's named error and the caller's
// context, so every return is seen:
//
//	defer s.observe("Op", ctx, &err)
func (s *Store) observe(op string, ctx context.Context, err *error) {
	if *err == nil || s.onError == nil {
		return
	}
	if errors.Is(*err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	s.onError(op)
}

// Ping checks that the server answers and the schema is readable.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.observe("Ping", ctx, &err)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		return fmt.Errorf("pinging postgres store: %w", err)
	}
	return nil
}

// Dialect is store.Postgres.
func (s *Store) Dialect() store.Dialect { return store.Postgres }

// Pool is the River seam: the store's pool, for riverpgxv5.New. The store
// owns it: do not close it or change its settings. See the package
// documentation.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close ends running Subscribes and closes the pool, waiting for the
// connections in use to come back. Calling it again returns the first
// call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.kill()
		s.closeErr = closePool(s.db, s.pool)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("closing postgres store: %w", s.closeErr)
		}
	})
	return s.closeErr
}
