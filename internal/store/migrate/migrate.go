// Package migrate applies versioned SQL migrations to a database/sql
// database. It is shared by every SQL backend of internal/store (SQLite now,
// PostgreSQL later), so nothing in it is specific to one engine: what differs
// lives in a Dialect.
//
// Migrations are files named NNNN_name.sql in an fs.FS (usually embedded),
// numbered from 0001 without gaps. Each is applied in its own transaction
// together with its row in schema_migrations, so a failed migration leaves
// the database at the previous version, never half-migrated (both SQLite and
// PostgreSQL roll back DDL). A database whose version is newer than the
// binary knows is refused rather than used: an old binary must not write to
// a schema it does not understand after a rollback of the deployment.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrSchemaTooNew reports a database migrated by a newer intelgate.
var ErrSchemaTooNew = errors.New("database schema is newer than this intelgate binary supports")

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Dialect is what differs between database engines.
type Dialect struct {
	// Name identifies the engine in errors ("sqlite", "postgres").
	Name string
	// Placeholder returns the bind parameter for the n-th (1-based)
	// argument: "?" for SQLite, "$n" for PostgreSQL.
	Placeholder func(n int) string
	// Lock, when not empty, runs first in every migration transaction to
	// serialise migrators in different processes, e.g. PostgreSQL's
	// "SELECT pg_advisory_xact_lock(…)". SQLite needs none when its write
	// transactions begin IMMEDIATE, which takes the database write lock.
	Lock string
}

// Beginner starts transactions; *sql.DB and *sql.Conn satisfy it.
type Beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// fileName is NNNN_name.sql; names are lower-case so that a listing sorts
// the same everywhere.
var fileName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// Load reads the migrations in the root of fsys. Files not ending in .sql are
// ignored (a README may sit beside them); a .sql file with any other name, a
// duplicate or missing number, or an empty file is an error, because
// silently skipping it would ship a schema that differs from the one tested.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries { // ReadDir sorts by name, hence by version
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_lower_case_name.sql", e.Name())
		}
		version, _ := strconv.Atoi(m[1]) // four digits: cannot fail
		if want := len(out) + 1; version != want {
			return nil, fmt.Errorf("migration file %q: expected version %04d (versions start at 0001 with no gaps or duplicates)", e.Name(), want)
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading migration %q: %w", e.Name(), err)
		}
		if strings.TrimSpace(string(body)) == "" {
			return nil, fmt.Errorf("migration file %q is empty", e.Name())
		}
		out = append(out, Migration{Version: version, Name: m[2], SQL: string(body)})
	}
	if len(out) == 0 {
		return nil, errors.New("no migrations found")
	}
	return out, nil
}

// Up applies every migration in ms that db has not yet applied, in order,
// and returns how many it applied. It is safe to call on every start:
// applied migrations are skipped. It fails with ErrSchemaTooNew when db was
// migrated beyond ms, and with a plain error when the applied history does
// not match ms (a migration renamed or renumbered after release).
func Up(ctx context.Context, db Beginner, ms []Migration, d Dialect) (int, error) {
	applied := 0
	for {
		done, err := step(ctx, db, ms, d)
		if err != nil {
			return applied, err
		}
		if done {
			return applied, nil
		}
		applied++
	}
}

// step applies the first pending migration in one transaction, re-reading
// the history under the transaction's lock so that two processes starting
// together never apply the same migration twice. done is true when nothing
// was pending.
func step(ctx context.Context, db Beginner, ms []Migration, d Dialect) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("beginning %s migration transaction: %w", d.Name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that made us roll back is the one to report
		}
	}()
	if d.Lock != "" {
		if _, err := tx.ExecContext(ctx, d.Lock); err != nil {
			return false, fmt.Errorf("locking %s schema for migration: %w", d.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, createTable); err != nil {
		return false, fmt.Errorf("creating schema_migrations: %w", err)
	}
	history, err := readHistory(ctx, tx)
	if err != nil {
		return false, err
	}
	if err := checkHistory(history, ms); err != nil {
		return false, err
	}
	if len(history) == len(ms) {
		return true, tx.Commit()
	}
	m := ms[len(history)]
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("applying migration %04d_%s: %w", m.Version, m.Name, err)
	}
	insert := fmt.Sprintf("INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
		d.Placeholder(1), d.Placeholder(2), d.Placeholder(3))
	at := time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := tx.ExecContext(ctx, insert, m.Version, m.Name, at); err != nil {
		return false, fmt.Errorf("recording migration %04d_%s: %w", m.Version, m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("committing migration %04d_%s: %w", m.Version, m.Name, err)
	}
	return false, nil
}

// createTable uses only types both SQLite and PostgreSQL accept. applied_at
// is informational RFC 3339 text, never compared.
const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`

func readHistory(ctx context.Context, tx *sql.Tx) ([]Migration, error) {
	rows, err := tx.QueryContext(ctx, "SELECT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Migration
	for rows.Next() {
		var m Migration
		if err := rows.Scan(&m.Version, &m.Name); err != nil {
			return nil, fmt.Errorf("reading schema_migrations: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	return out, nil
}

// checkHistory verifies that the applied migrations are a prefix of ms.
func checkHistory(history, ms []Migration) error {
	if n := len(history); n > 0 && history[n-1].Version > len(ms) {
		return fmt.Errorf("%w: database is at version %d, this binary knows up to %d; upgrade intelgate or restore a backup taken before the upgrade",
			ErrSchemaTooNew, history[n-1].Version, len(ms))
	}
	if len(history) > len(ms) {
		return fmt.Errorf("schema history does not match this binary: database has %d migrations, this binary knows %d", len(history), len(ms))
	}
	for i, h := range history {
		want := ms[i]
		if h.Version != want.Version || h.Name != want.Name {
			return fmt.Errorf("schema history does not match this binary: database has migration %04d_%s where %04d_%s was expected",
				h.Version, h.Name, want.Version, want.Name)
		}
	}
	return nil
}
