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
