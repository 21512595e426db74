package vault_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/vault"
	"github.com/intelgate/intelgate/internal/secret/vault/vaulttest"
)

// TestMain fails the package if any goroutine outlives the tests: Run's
// watcher and the connection pool included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds every wait for something Run does on its own: generous,
// because CI runs this under -race on two busy cores, and only a failing
// test waits that long.
const patience = 30 * time.Second

// testTimeout is the per-request timeout the tests give the source: a
// test-sized one, so a hung request fails a test instead of stalling it.
const testTimeout = 5 * time.Second

func tokenOptions(t *testing.T, srv *vaulttest.Server, token string) vault.Options {
	t.Helper()
	return vault.Options{
		Address: srv.URL(), CAFile: srv.CAFile(t), Timeout: testTimeout,
		Auth: vault.Auth{Method: "token", Token: secret.NewValue(token)},
	}
}

// testSecretID is the secret ID of the AppRole roles the tests register.
const testSecretID = "secret-id-0123456789abcdef"

// appRole registers a role on srv and returns options that log in with it.
func appRole(t *testing.T, srv *vaulttest.Server, tok vaulttest.TokenOptions) (vault.Options, vaulttest.AppRole) {
	t.Helper()
	role := vaulttest.AppRole{Name: "gateway", RoleID: "role-id-" + t.Name(), SecretID: testSecretID, Token: tok}
	srv.SetAppRole(role)
	return vault.Options{
		Address: srv.URL(), CAFile: srv.CAFile(t), Timeout: testTimeout,
		Auth: vault.Auth{Method: "approle", RoleID: secret.NewValue(role.RoleID), SecretID: secret.NewValue(role.SecretID)},
	}, role
}

func newSource(t *testing.T, o vault.Options) *vault.Source {
	t.Helper()
	src, err := vault.New(context.Background(), o)
	require.NoError(t, err)
	return src
}

// run runs src.Run until the test ends, and fails the test if Run does
// not return promptly once its context is cancelled.
func run(t *testing.T, src *vault.Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(patience):
			t.Error("Run did not return after its context was cancelled")
		}
	})
}

// recorder collects a source's events; wait is called from the test's
// goroutine only.
type recorder struct {
	mu     sync.Mutex
	events []vault.Event
	at     []time.Time // when each event came
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) on(e vault.Event) {
	r.mu.Lock()
	r.events, r.at = append(r.events, e), append(r.at, time.Now())
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []vault.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vault.Event(nil), r.events...)
}

// times are when the events of kind came, in order.
func (r *recorder) times(kind vault.EventKind) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for i, e := range r.events {
		if e.Kind == kind {
			out = append(out, r.at[i])
		}
	}
	return out
}

func (r *recorder) count(kind vault.EventKind) int {
	n := 0
	for _, e := range r.all() {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// wait returns once there have been at least n events of kind.
func (r *recorder) wait(t *testing.T, kind vault.EventKind, n int) {
	t.Helper()
	deadline := time.After(patience)
	for r.count(kind) < n {
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("waited %s for %d %q events; got %v", patience, n, kind, r.all())
		}
	}
}

// eventually polls cond until it holds or patience runs out.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(patience)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited %s for %s", patience, what)
		}
	}
}

func fetchOne(t *testing.T, src *vault.Source, ref secret.Ref) secret.Result {
	t.Helper()
	res := src.Fetch(context.Background(), []secret.Ref{ref})
	require.Len(t, res, 1)
	return res[0]
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Rename into place, as kubelet swaps projected tokens atomically.
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}
