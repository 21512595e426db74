package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
)

// AuditAdmin is the audit log as intelgate audit verify|export use it:
// the deployment's store and data-at-rest keys, without a gateway. It
// only reads; gateways may keep writing meanwhile (both read one
// snapshot).
type AuditAdmin struct {
	a *App
}

// OpenAuditAdmin opens cfg's store and data-at-rest keys.
func OpenAuditAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger) (*AuditAdmin, error) {
	a, _, err := openForAdmin(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &AuditAdmin{a: a}, nil
}

// openForAdmin is what every command-line tool opens of a deployment:
// its secrets, its store, its data-at-rest keys and the audit tables
// (where a tool's own actions are recorded). The caller closes the App.
func openForAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *App, _ *config.Secrets, err error) {
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	sources, err := a.openSources(ctx, cfg, secret.Sources{})
	if err != nil {
		return nil, nil, err
	}
	secrets, err := cfg.ResolveSecretsWith(ctx, sources)
	if err != nil {
		return nil, nil, fmt.Errorf("resolving secrets: %w", err)
	}
	if a.store, err = openStore(ctx, cfg.Storage, secrets, nil, nil); err != nil {
		return nil, nil, err
	}
	a.closers = append(a.closers, a.store)
	if a.keyring, err = openKeyring(cfg, secrets, log); err != nil {
		return nil, nil, err
	}
	a.auditStore = audit.NewStore(a.store, a.keyring)
	return a, secrets, nil
}

// longRead is how long a verification or an export may read: the whole
// log, from one snapshot. The store's per-operation timeout must not cut
// it (PostgreSQL's ReadTx takes the caller's deadline).
const longRead = 24 * time.Hour

// Verify checks the whole stored chain (audit.Store.Verify).
func (c *AuditAdmin) Verify(ctx context.Context, o audit.VerifyOptions) (audit.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, longRead)
	defer cancel()
	return c.a.auditStore.Verify(ctx, o)
}

// VerifyFile checks an export on its own (audit.VerifyJSONL), with the
// deployment's keys for its checkpoints.
func (c *AuditAdmin) VerifyFile(r io.Reader) (audit.Report, error) {
	return audit.VerifyJSONL(r, c.a.keyring)
}

// Export writes the records f selects as JSON Lines (audit.Store.Export).
func (c *AuditAdmin) Export(ctx context.Context, w io.Writer, f audit.Filter) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, longRead)
	defer cancel()
	return c.a.auditStore.Export(ctx, w, f)
}

// IndicatorFilter is the Filter.Indicator that finds the records of an
// indicator, parsed and normalised as a lookup would (typ "" detects
// it), under every data-at-rest key held.
func (c *AuditAdmin) IndicatorFilter(value string, typ indicator.Type) ([]string, error) {
	ind, err := indicator.Parse(value, typ)
	if err != nil {
		return nil, err
	}
	return audit.IndicatorHMACs(c.a.keyring, ind.Type, ind.Value), nil
}

// Close releases the store.
func (c *AuditAdmin) Close() error { return c.a.Close() }

// auditNow appends one record at once, for a command-line action (there
// is no queue and no writer in a short-lived process).
func (a *App) auditNow(ctx context.Context, r audit.Record) error {
	if a.auditStore == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = a.clockNow()
	}
	if err := a.auditStore.Append(ctx, []audit.Record{r}); err != nil {
		return fmt.Errorf("recording the action in the audit log: %w", err)
	}
	return nil
}
