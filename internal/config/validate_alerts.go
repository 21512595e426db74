package config

// alerts checks the alerts section.
func (v *validator) alerts() {}
