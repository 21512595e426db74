package app

import (
	"context"
	"fmt"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/jobs"
	"github.com/intelgate/intelgate/internal/lookup"
)

// openJobs opens the bulk lookup queue on the store (River's tables are
// migrated here) unless jobs are off. Its workers start with Run.
func (a *App) openJobs(ctx context.Context, cfg *config.Config) error {
	if !cfg.Jobs.On() {
		return nil
	}
	j := cfg.Jobs
	q, err := jobs.Open(ctx, jobs.Options{Store: a.store, Keyring: a.keyring, Lookups: a.lookups, Clients: jobClients{a.auth},
		Workers: j.Workers, MaxItems: j.MaxItems, MaxAttempts: j.MaxAttempts, ItemTimeout: j.ItemTimeout.Std(),
		RetryBase: j.Retry.Base.Std(), RetryMax: j.Retry.Max.Std(), FetchCooldown: j.FetchCooldown.Std(),
		FetchPollInterval: j.PollInterval.Std(), Log: a.log, Clock: a.clock})
	if err != nil {
		return fmt.Errorf("opening the job queue: %w", err)
	}
	a.jobs = q
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
