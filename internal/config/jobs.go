package config

import "time"

// Jobs are the bulk lookup queue's settings (internal/jobs): River on the
// store's own database, worked on every replica.
type Jobs struct {
	// Enabled turns POST /v1/jobs and the workers on (default true).
	Enabled *bool `yaml:"enabled"`
	// Workers is how many items run at once on each replica (default 8).
	Workers int `yaml:"workers"`
	// MaxItems bounds the indicators of one submission (default 10,000);
	// a larger one is refused with 413.
	MaxItems int `yaml:"max_items"`
	// MaxBodyBytes caps a submission's body (default 16MiB), in place of
	// server.max_body_bytes for POST /v1/jobs alone.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxAttempts is how many times an item failing transiently (the
	// upstream down, timing out, answering garbage) is tried before it is
	// dead, in the dead-letter queue (default 5). Waits for quota are not
	// attempts.
	MaxAttempts int `yaml:"max_attempts"`
	// CallbackAttempts bounds the attempts to deliver one job's callback
	// (default 8, spaced by jobs.retry); after them the delivery is
	// recorded as failed in the job's status. The results stay available.
	CallbackAttempts int `yaml:"callback_attempts"`
	// CallbackCAFile is a PEM bundle of authorities trusted for callback
	// receivers besides the system's (an on-premises SOAR's private CA);
	// relative to the config file. Verification stays on.
	CallbackCAFile string `yaml:"callback_ca_file"`
	// ItemTimeout bounds one attempt of one item (default 2m).
	ItemTimeout Duration `yaml:"item_timeout"`
	// Retry shapes the wait between attempts: exponential from base,
	// capped at max, full jitter (defaults 5s and 10m).
	Retry JobRetry `yaml:"retry"`
	// FetchCooldown is the least time between two fetches of a replica's
	// workers (River's FetchCooldown, default 20ms): it caps how many
	// items per second a replica starts, at about workers / cooldown.
	FetchCooldown Duration `yaml:"fetch_cooldown"`
	// PollInterval is how often an idle queue looks for new items (default
	// 500ms). On SQLite it is the only wake-up; PostgreSQL also notifies.
	PollInterval Duration `yaml:"poll_interval"`
	// InteractiveShare is the fraction of each provider key's burst and of
	// its day and month quotas that bulk work leaves for interactive
	// lookups (default 0.2, at most 0.9; 0 reserves nothing): a job never
	// makes an analyst's lookup wait (docs/governance.md).
	InteractiveShare float64 `yaml:"interactive_share"`
}

// JobRetry is jobs.retry.
type JobRetry struct {
	Base Duration `yaml:"base"`
	Max  Duration `yaml:"max"`
}

// Defaults of jobs.
const (
	DefaultJobsWorkers          = 8
	DefaultJobsMaxItems         = 10000
	DefaultJobsMaxBodyBytes     = ByteSize(16 << 20)
	DefaultJobsMaxAttempts      = 5
	DefaultJobsCallbackAttempts = 8
	DefaultJobsItemTimeout      = Duration(2 * time.Minute)
	DefaultJobsRetryBase        = Duration(5 * time.Second)
	DefaultJobsRetryMax         = Duration(10 * time.Minute)
	DefaultJobsFetchCooldown    = Duration(20 * time.Millisecond)
	DefaultJobsPollInterval     = Duration(500 * time.Millisecond)
	DefaultJobsInteractiveShare = 0.2
	// MaxJobsInteractiveShare is the most jobs.interactive_share may be:
	// bulk work keeps at least a tenth of every limit.
	MaxJobsInteractiveShare = 0.9
	// MaxJobsItems is the most jobs.max_items may be: one submission is
	// one transaction.
	MaxJobsItems = 100000
)

// On reports whether bulk jobs are enabled.
func (j Jobs) On() bool { return j.Enabled == nil || *j.Enabled }

func (j *Jobs) setDefaults() {
	*j = Jobs{Workers: DefaultJobsWorkers, MaxItems: DefaultJobsMaxItems, MaxBodyBytes: DefaultJobsMaxBodyBytes, MaxAttempts: DefaultJobsMaxAttempts, CallbackAttempts: DefaultJobsCallbackAttempts,
		ItemTimeout: DefaultJobsItemTimeout, Retry: JobRetry{Base: DefaultJobsRetryBase, Max: DefaultJobsRetryMax},
		FetchCooldown: DefaultJobsFetchCooldown, PollInterval: DefaultJobsPollInterval, InteractiveShare: DefaultJobsInteractiveShare}
}

// jobsSettings checks jobs.
func (v *validator) jobsSettings() {
	j := v.cfg.Jobs
	if j.Workers < 1 || j.Workers > 1000 {
		v.add("jobs.workers", "must be between 1 and 1000")
	}
	if j.MaxItems < 1 || j.MaxItems > MaxJobsItems {
		v.add("jobs.max_items", "must be between 1 and %d", MaxJobsItems)
	}
	if j.MaxBodyBytes < 1<<10 || j.MaxBodyBytes > 1<<30 {
		v.add("jobs.max_body_bytes", "must be between 1KiB and 1GiB")
	}
	if j.MaxAttempts < 1 || j.MaxAttempts > 100 {
		v.add("jobs.max_attempts", "must be between 1 and 100")
	}
	if j.CallbackAttempts < 1 || j.CallbackAttempts > 100 {
		v.add("jobs.callback_attempts", "must be between 1 and 100")
	}
	for field, d := range map[string]Duration{"jobs.item_timeout": j.ItemTimeout, "jobs.retry.base": j.Retry.Base,
		"jobs.retry.max": j.Retry.Max, "jobs.fetch_cooldown": j.FetchCooldown, "jobs.poll_interval": j.PollInterval} {
		if d <= 0 {
			v.add(field, "must be greater than 0")
		}
	}
	if !(j.InteractiveShare >= 0 && j.InteractiveShare <= MaxJobsInteractiveShare) {
		v.add("jobs.interactive_share", "must be between 0 and %v (a fraction of each provider's limits)", MaxJobsInteractiveShare)
	}
	if j.Retry.Max > 0 && j.Retry.Max < j.Retry.Base {
		v.add("jobs.retry.max", "must be at least jobs.retry.base (%s)", j.Retry.Base)
	}
}
