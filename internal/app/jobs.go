package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/intelgate/intelgate/internal/callback"
	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/jobs"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/regfile"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// openJobs opens the bulk lookup queue on the store (River's tables are
// migrated here) unless jobs are off. Its workers start with Run.
func (a *App) openJobs(ctx context.Context, cfg *config.Config) error {
	if !cfg.Jobs.On() {
		return nil
	}
	if err := checkCallbackSecrets(a.live.Load()); err != nil {
		return err
	}
	j := cfg.Jobs
	roots, err := callbackRoots(j.CallbackCAFile)
	if err != nil {
		return fmt.Errorf("jobs.callback_ca_file: %w", err)
	}
	a.deliverer = callback.New(callback.Options{RootCAs: roots})
	a.closers = append(a.closers, delivererCloser{a.deliverer})
	if _, err := buildVerifiers(a.live.Load()); err != nil {
		return err
	}
	meter := a.metrics.Jobs()
	a.hooks = &webhooks{a: a, meter: meter}
	q, err := jobs.Open(ctx, jobs.Options{Store: a.store, Keyring: a.keyring, Lookups: a.lookups, Clients: jobClients{a.auth},
		Callbacks: jobCallbacks{a}, Deliverer: a.deliverer, CallbackAttempts: j.CallbackAttempts,
		Webhooks: a.hooks, EventTargets: a.hooks, Meter: meter,
		Workers: j.Workers, MaxItems: j.MaxItems, MaxAttempts: j.MaxAttempts, ItemTimeout: j.ItemTimeout.Std(),
		RetryBase: j.Retry.Base.Std(), RetryMax: j.Retry.Max.Std(), FetchCooldown: j.FetchCooldown.Std(),
		FetchPollInterval: j.PollInterval.Std(), Log: a.log, Clock: a.clock})
	if err != nil {
		return fmt.Errorf("opening the job queue: %w", err)
	}
	a.jobs = q
	meter.WatchJobs(q)
	return nil
}

// callbackRoots is the system's authorities plus those of file ("": the
// system's alone).
func callbackRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, _, err := regfile.Read(file, 1<<20)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("the file holds no PEM certificate")
	}
	return pool, nil
}

// checkCallbackSecrets refuses a client's callbacks.secret that is not a
// usable whsec_ secret: at start-up and on reload, naming the field, so a
// job never learns at its finish that its callback cannot be signed.
func checkCallbackSecrets(l *live) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(l.cfg.Clients)) {
		if cl := l.cfg.Clients[name]; cl != nil && cl.Callbacks != nil {
			if _, err := callbackKey(l, name); err != nil {
				errs = append(errs, fmt.Errorf("clients.%s.callbacks.secret: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func callbackKey(l *live, client string) (webhooksig.Key, error) {
	e, ok := l.secrets.Entry("clients." + client + ".callbacks.secret")
	if !ok {
		return webhooksig.Key{}, errors.New("the secret is not resolved")
	}
	return webhooksig.ParseKey(e.Value.Reveal())
}

// jobCallbacks gives each client's callback policy and signing key from
// the running config and secrets: a reload or a rotated secret applies to
// the next delivery.
type jobCallbacks struct{ a *App }

func (c jobCallbacks) Target(client string) (callback.Policy, webhooksig.Key, bool) {
	l := c.a.live.Load()
	cl := l.cfg.Clients[client]
	if cl == nil || cl.Callbacks == nil {
		return callback.Policy{}, webhooksig.Key{}, false
	}
	key, err := callbackKey(l, client)
	if err != nil {
		return callback.Policy{}, webhooksig.Key{}, false
	}
	return cl.Callbacks.Policy(), key, true
}

type delivererCloser struct{ d *callback.Deliverer }

func (c delivererCloser) Close() error {
	c.d.Close()
	return nil
}

// jobQueue is the queue for the gateway: nil (no routes) when jobs are
// off, never a nil *jobs.Queue in the interface.
func (a *App) jobQueue() gateway.Jobs {
	if a.jobs == nil {
		return nil
	}
	return a.jobs
}

// deadLetters is the dead-letter queue for the admin API, with every
// retry audited; nil when jobs are off.
func (a *App) deadLetters() gateway.DeadLetters {
	if a.jobs == nil {
		return nil
	}
	return auditedDLQ{a}
}

type auditedDLQ struct{ a *App }

func (d auditedDLQ) Dead(ctx context.Context, f jobs.DeadFilter, after string, limit int) ([]jobs.DeadItem, string, error) {
	return d.a.jobs.Dead(ctx, f, after, limit)
}

func (d auditedDLQ) Retry(ctx context.Context, id, by string) error {
	if err := d.a.jobs.Retry(ctx, id); err != nil {
		return err
	}
	d.a.recorder.Admin(by, "dlq_retry", "item="+id, "")
	return nil
}

func (d auditedDLQ) RetryAll(ctx context.Context, f jobs.DeadFilter, by string) (int, bool, error) {
	n, more, err := d.a.jobs.RetryAll(ctx, f)
	if err != nil {
		return 0, false, err
	}
	d.a.recorder.Admin(by, "dlq_retry_all", fmt.Sprintf("provider=%s error=%s job=%s client=%s retried=%d",
		f.Provider, f.Error, f.Job, f.Client, n), "")
	return n, more, nil
}

// jobClients gives a job's client as the running config has it: a reload
// that narrowed its scope narrows its queued items too, a disabled client's
// items wait, a removed client's fail.
type jobClients struct{ auth *switchAuth }

func (c jobClients) Identity(name string) (lookup.Identity, jobs.ClientState) {
	cl, ok := c.auth.cur.Load().Client(name)
	switch {
	case !ok:
		return lookup.Identity{}, jobs.ClientUnknown
	case c.auth.isDisabled(name):
		return lookup.Identity{}, jobs.ClientDisabled
	}
	return lookup.Identity{Client: cl.Name, Environment: cl.Environment, Providers: cl.Providers,
		Markings: cl.Markings, Bulk: true}, jobs.ClientActive
}
