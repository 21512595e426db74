package vault

import "time"

// SetRetry sets the back-off of failed logins, lookups and renewals: its
// base and cap, and the jitter (nil: random), so that tests of Run's
// retry loops take milliseconds and can bound their waits. Call it before
// Run.
func SetRetry(s *Source, base, limit time.Duration, jitter func() float64) {
	s.retryBase, s.retryCap = base, limit
	if jitter != nil {
		s.jitter = jitter
	}
}

// SetMinTokenLife sets how long a login's token must last for the next
// login to follow at once. Call it before Run.
func SetMinTokenLife(s *Source, d time.Duration) { s.minTokenLife = d }

// SetNow gives the Source that New builds from o its notion of now for
// token lifetimes (the LifetimeWatcher's own timers stay on the wall
// clock), so that a test can put time between New's login and Run.
func SetNow(o *Options, now func() time.Time) { o.now = now }

// SetShutdownCap lowers the cap of the shutdown bound (maxShutdownRevoke),
// so that a test of a Vault that never answers a revocation waits
// milliseconds. Call it before Run or Close.
func SetShutdownCap(s *Source, d time.Duration) { s.shutdownCap = d }

// ShutdownBound is how long revocation may take once shutdown has begun.
func ShutdownBound(s *Source) time.Duration { return s.shutdownBound() }

// CheckEnvFiles is the check New makes of the files VAULT_* variables name.
var CheckEnvFiles = checkEnvFiles
