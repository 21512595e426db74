package config

// Alerts is the alerts section: the built-in rules, their sinks and the
// actions taken on security events (docs/alerts.md).
type Alerts struct{}

func (a *Alerts) setDefaults() {}
