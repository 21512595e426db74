package app

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/clock"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/retention"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/secret"
)

// openAudit builds the audit log on the store and starts its writer, which
// runs for as long as the App: records made while starting (a key
// rotation) and while shutting down are written too, and Close flushes
// the queue before the store closes.
func (a *App) openAudit(cfg *config.Config, obs observe.Observer) error {
	a.auditStore = audit.NewStore(a.store, a.keyring)
	l, err := audit.NewLog(audit.Options{Store: a.auditStore, QueueSize: cfg.Audit.QueueSize,
		CheckpointEvery: cfg.Audit.CheckpointEvery, CheckpointInterval: cfg.Audit.CheckpointInterval.Std(),
		Observer: obs, Log: a.log})
	if err != nil {
		return fmt.Errorf("building the audit log: %w", err)
	}
	if a.recorder, err = audit.NewRecorder(l, a.keyring, audit.Indicators(cfg.Audit.Indicators)); err != nil {
		return fmt.Errorf("audit.indicators: %w", err)
	}
	if a.metrics != nil {
		a.metrics.WatchAuditQueue(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	a.closers = append(a.closers, closerFunc(func() error {
		var err error
		once.Do(func() {
			cancel()
			if err = <-done; err != nil {
				err = fmt.Errorf("flushing the audit log: %w", err)
			}
		})
		return err
	}))
	a.auditLog = l
	return nil
}

// newSweeper is the retention sweeper of cfg's retention settings.
func (a *App) newSweeper(cfg *config.Config, obs observe.Observer) (*retention.Runner, error) {
	r := cfg.Retention
	var extra []retention.Extra
	if a.alerts != nil {
		// Resolved and acknowledged alerts only: a live one stays.
		extra = append(extra, retention.Extra{Kind: "alerts", For: cfg.Alerts.Retention.Std(), Sweep: alert.NewStore(a.store).Sweep})
	}
	if a.jobs != nil {
		// Finished jobs only: a running job's items stay.
		extra = append(extra, retention.Extra{Kind: "jobs", For: r.JobResults.Std(), Sweep: a.jobs.Sweep},
			retention.Extra{Kind: "webhooks", For: r.WebhookIDs.Std(), Sweep: a.jobs.SweepWebhooks})
	}
	return retention.New(retention.Options{Store: a.store, Audit: a.auditStore, Log: a.auditLog,
		AuditFor: r.Audit.Std(), SeenFor: r.Seen.Std(), Every: r.SweepInterval.Std(), Extra: extra,
		Observer: obs, Logger: a.log, Clock: a.clock})
}

func (a *App) clockNow() time.Time { return clock.Or(a.clock).Now() }

// auditReader is the gateway's view of the audit log: pages of records,
// and sealed indicators opened with the data-at-rest key.
type auditReader struct {
	*audit.Store
	keys *seal.Keyring
}

var _ gateway.AuditReader = auditReader{}

func (r auditReader) OpenIndicator(sealed []byte) (string, error) {
	return audit.OpenIndicator(r.keys, sealed)
}

// fingerprintPurpose separates key fingerprints from every other HMAC
// made with the data-at-rest key's index key.
const fingerprintPurpose = "intelgate-key-fingerprint\x00"

// fingerprinter names upstream secrets by the writer data-at-rest key's id
// and a keyed HMAC under it (22 base64url characters, 132 bits): stable
// across restarts and replicas that share encryption.keys, and of no use
// to whoever reads the store, Redis or the logs for testing a guessed
// key. When the writer key rotates, start-up recognises the fingerprints
// stored under the older keys still listed (olderFingerprints), so a
// data-at-rest key rotation is not taken for a rotation of every upstream
// key, and carries revocations in force to the new name
// (adoptRevocations).
func fingerprinter(kr *seal.Keyring) func(secret.Value) string {
	writer := kr.Writer()
	return func(v secret.Value) string { return fingerprintUnder(kr, writer, v) }
}

// olderFingerprints are v's fingerprints under the keyring's other keys:
// what the store holds for an unchanged secret when the writer key has
// rotated since (store.Store.RecordKeyFingerprint's previous).
func olderFingerprints(kr *seal.Keyring, v secret.Value) []string {
	var out []string
	for _, id := range kr.IDs()[1:] {
		out = append(out, fingerprintUnder(kr, id, v))
	}
	return out
}

func fingerprintUnder(kr *seal.Keyring, keyID string, v secret.Value) string {
	if v.IsZero() {
		return ""
	}
	mac, _ := kr.IndexUnder(keyID, fingerprintPurpose+v.Reveal()) // keyID is one of kr's
	return keyID + ":" + mac[:22]
}

// lateObserver forwards to an observer set once it exists: the store is
// opened before the metrics it reports failures to.
type lateObserver struct {
	o atomic.Pointer[observe.Observer]
}

func (l *lateObserver) set(o observe.Observer) { l.o.Store(&o) }

func (l *lateObserver) storeFailed(op string) {
	if o := l.o.Load(); o != nil && *o != nil {
		(*o).Observe(context.Background(), observe.StoreFailed{Op: op})
	}
}
