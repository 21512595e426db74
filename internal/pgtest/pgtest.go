// Package pgtest holds what the tests of every PostgreSQL-backed package
// share: the test server (or a skip) and a fresh schema per test, so
// parallel tests, and runs sharing one server, never see each other's
// rows. Tests never drop or truncate what they did not create.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable holding the test server's DSN, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Its user must
// be allowed to create schemas in the database.
const EnvDSN = "INTELGATE_TEST_POSTGRES_DSN"

// adminTimeout bounds the helper's own statements: generous, because CI
// runs on two busy cores under -race, and a failure here is the server's.
const adminTimeout = 30 * time.Second

// BaseDSN is the test server's DSN (EnvDSN), or a skip: these tests need
// a real server, and .ci/run provides one.
func BaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		t.Skip(EnvDSN + " not set: skipping PostgreSQL tests")
	}
	return dsn
}

// Schema is a schema of the test database made for one test.
type Schema struct {
	// Name is the schema's name: pgtest_ and random hex.
	Name string
	// DSN is the test server's DSN with search_path set to Name, so
	// everything a connection made with it creates lands in the schema.
	// Open several stores with the same DSN to have them share it, as
	// replicas of one deployment share a database.
	DSN string
}

// New creates a fresh, empty schema, dropped with everything in it when
// the test ends (after the cleanups registered later, such as closing
// the stores opened on it).
func New(t testing.TB) Schema {
	t.Helper()
	base := BaseDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	name := "pgtest_" + hex.EncodeToString(b[:])
	dsn, err := WithSearchPath(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := exec(base, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(base, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return Schema{Name: name, DSN: dsn}
}

// DSN is New(t).DSN: a DSN scoped to a fresh schema.
func DSN(t testing.TB) string {
	t.Helper()
	return New(t).DSN
}

// WithSearchPath returns dsn (a postgres:// URL or a key=value string)
// with the search_path run-time parameter set to schema, which must be a
// plain lower-case identifier.
func WithSearchPath(dsn, schema string) (string, error) {
	for _, r := range schema {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return "", fmt.Errorf("schema %q: only a-z, 0-9 and _ are allowed", schema)
		}
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parsing %s as a URL: %w", EnvDSN, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " search_path=" + schema, nil
}

// Conn is a connection of its own to dsn (usually a Schema's), closed when
// the test ends: for a test to look at or change the tables behind a
// store's back.
func Conn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connecting to the test server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// exec runs sql on a connection of its own to dsn.
func exec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connecting to the test server: %w", err)
	}
	defer func() { _ = c.Close(ctx) }()
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
