// Package sqlite is the embedded store.Store: one SQLite file through
// modernc.org/sqlite (pure Go, so the binary stays static and cgo-free).
//
// Connections. SQLite allows one writer at a time. With a single pool of
// several connections, two writers that both start a deferred transaction
// (or an upsert that reads before it writes) can fail at once with
// SQLITE_BUSY: upgrading a read snapshot to a write lock is refused rather
// than waited for, so busy_timeout does not help. We therefore keep two
// pools on the same file:
//
//   - writes: exactly one connection (SetMaxOpenConns(1)) whose transactions
//     BEGIN IMMEDIATE. Writers in this process queue in database/sql, which
//     honours their contexts, instead of spinning in SQLite's busy handler.
//   - reads: several query_only connections. In WAL mode readers never block
//     the writer nor each other.
//
// busy_timeout (5s) still matters for other processes on the same file (a
// backup with the sqlite3 shell, a second intelgate by mistake).
//
// Pragmas, set on every connection through the DSN because most are
// per-connection: journal_mode=WAL (readers and the writer run concurrently),
// synchronous=NORMAL (safe in WAL: a power cut can lose the last commits
// but never corrupts the file), foreign_keys=ON, busy_timeout=5000.
//
// Transactions and River. InTx runs on the writer connection, so its
// transactions begin IMMEDIATE and are serialised with every other write.
// DB (store.SQLHandle) hands River that same one-connection pool:
// riversqlite wants exactly one connection (River runs operations in
// parallel, which SQLite answers with SQLITE_BUSY otherwise), and sharing
// ours means River's writes and the store's queue for the one writer
// instead of failing against each other. The Tx InTx passes is a *sql.Tx,
// so riversqlite's InsertTx can enqueue a job in the same transaction. Inside
// fn, only tx may be used: a River call that is not ...Tx would wait for the
// connection fn holds, forever (the store's own writes detect this and fail
// with store.ErrInTx; River's cannot).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Dialect is SQLite's migrate.Dialect. No Lock: the writer's transactions
// begin IMMEDIATE, which already serialises migrators across processes.
var Dialect = migrate.Dialect{
	Name:        string(store.SQLite),
	Placeholder: store.SQLite.Placeholder,
}

// BusyTimeoutMillis is how long a connection waits for a lock held by
// another process before failing with SQLITE_BUSY.
const BusyTimeoutMillis = 5000

// header is the first 16 bytes of every SQLite 3 database file.
const header = "SQLite format 3\x00"

// Store is the SQLite store.
type Store struct {
	writes *sql.DB // one connection, BEGIN IMMEDIATE
	reads  *sql.DB // several query_only connections
	clock  clock.Clock
	// onError is Options.OnError; nil reports nothing.
	onError func(op string)
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.SQLHandle = (*Store)(nil)
)

// Options configure OpenWith. The zero value is Open's.
type Options struct {
	// Clock is the time quota windows expire by (govern.Window.Expires is
	// on the governor's clock, so pass the governor's); nil is the system
	// clock.
	Clock clock.Clock
	// OnError, when non-nil, is called with the method's name ("Consume",
	// "InTx", "Publish", …) each time a method returns an error other than
	// context.Canceled, for the intelgate_store_errors_total{op} metric: a
	// failing disk or a lock held by another process shows up there
	// before it shows up as slow or refused requests. A caller that went
	// away is not the store failing, so cancellation is not counted; every
	// other error is, including fn's from InTx, ReadTx and Scan (the store
	// cannot tell a failed statement inside fn from fn's own error). It
	// must be fast and safe for concurrent use.
	OnError func(op string)
}

// Open is OpenWith with the zero Options.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith opens (creating it with mode 0600 if missing) the database file
// at path, checks that it is a SQLite database in WAL mode, and applies
// pending migrations. A database migrated by a newer intelgate is refused
// with an error wrapping migrate.ErrSchemaTooNew.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening sqlite store: path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	s, err := open(ctx, abs)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %q: %w", path, err)
	}
	s.clock = clock.Or(o.Clock)
	s.onError = o.OnError
	return s, nil
}

func open(ctx context.Context, abs string) (*Store, error) {
	writes, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_txlock":       {"immediate"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
	}))
	if err != nil {
		return nil, err
	}
	writes.SetMaxOpenConns(1)
	writes.SetMaxIdleConns(1)
	writes.SetConnMaxLifetime(0)
	writes.SetConnMaxIdleTime(0)
	if err := checkWAL(ctx, writes); err != nil {
		_ = writes.Close()
		return nil, err
	}
	ms, err := migrate.Load(mustSub(migrationFiles, "migrations"))
	if err != nil {
		_ = writes.Close()
		return nil, fmt.Errorf("loading embedded migrations: %w", err)
	}
	if _, err := migrate.Up(ctx, writes, ms, Dialect); err != nil {
		_ = writes.Close()
		return nil, err
	}
	reads, err := sql.Open("sqlite", dsn(abs, url.Values{"_query_only": {"1"}}))
	if err != nil {
		_ = writes.Close()
		return nil, err
	}
	reads.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	return &Store{writes: writes, reads: reads}, nil
}

// dsn is a file: URI, so that a path containing '?' or '#' stays a path
// (a plain DSN would be cut at the first '?'), with the pragmas every
// connection needs plus extra.
func dsn(abs string, extra url.Values) string {
	q := url.Values{
		"_busy_timeout": {fmt.Sprint(BusyTimeoutMillis)},
		"_foreign_keys": {"1"},
	}
	for k, v := range extra {
		q[k] = v
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") { // Windows: file:///C:/…
		u.Path = "/" + u.Path
	}
	return u.String()
}

// prepareFile creates the file with mode 0600 if it does not exist (SQLite
// would create it 0644, and its -wal and -shm files copy the database
// file's mode), and refuses a non-empty file that is not a SQLite database
// with a message that says so, rather than SQLite's terse "file is not a
// database" on the first query. An existing file's mode is left alone: the
// operator may have chosen it.
func prepareFile(abs string) error {
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, len(header))
	n, err := io.ReadFull(f, buf)
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return nil // new or empty file: SQLite initialises it
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("reading file header: %w", err)
	case string(buf[:n]) != header:
		return errors.New("file exists but is not a SQLite database (wrong header); check storage.dsn")
	}
	return nil
}

// checkWAL verifies that WAL mode took effect: SQLite silently keeps the
// old journal mode where WAL cannot work (some network filesystems), and
// our concurrency design depends on it.
func checkWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("reading journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("could not enable WAL journal mode (got %q); the file must be on a local filesystem", mode)
	}
	return nil
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant embedded at build time
	}
	return sub
}

// observe reports method op's error, if any, to Options.OnError (see there
// for what counts). It takes the method's named error result and is
// deferred first thing, so that every return, early ones included, is
// seen and no method has to remember to report each of its errors:
//
//	defer s.observe("Op", &err)
func (s *Store) observe(op string, err *error) {
	if *err != nil && s.onError != nil && !errors.Is(*err, context.Canceled) {
		s.onError(op)
	}
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.observe("Ping", &err)
	var v int
	err = s.reads.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&v)
	if err != nil {
		return fmt.Errorf("pinging sqlite store: %w", err)
	}
	return nil
}

// Dialect is store.SQLite.
func (s *Store) Dialect() store.Dialect { return store.SQLite }

// DB is the River seam (store.SQLHandle): the single writer connection's
// pool, for riversqlite.New. See the package documentation.
func (s *Store) DB() *sql.DB { return s.writes }

// Close closes both connection pools.
func (s *Store) Close() (err error) {
	defer s.observe("Close", &err)
	return errors.Join(s.reads.Close(), s.writes.Close())
}
