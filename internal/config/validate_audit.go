package config

// auditSettings checks the audit log and retention settings.
func (v *validator) auditSettings() {
	a := v.cfg.Audit
	if a.Indicators != "hmac" && a.Indicators != "plaintext" {
		v.add("audit.indicators", "must be hmac (a keyed HMAC, the default) or plaintext (sealed with the data-at-rest key), not %s", quote(a.Indicators))
	}
	if a.QueueSize < 1 || a.QueueSize > 1<<20 {
		v.add("audit.queue_size", "must be between 1 and %d", 1<<20)
	}
	if a.CheckpointEvery < 1 {
		v.add("audit.checkpoint_every", "must be at least 1")
	}
	if a.CheckpointInterval <= 0 {
		v.add("audit.checkpoint_interval", "must be greater than 0")
	}
	r := v.cfg.Retention
	for field, d := range map[string]Duration{"retention.audit": r.Audit, "retention.job_results": r.JobResults,
		"retention.webhook_ids": r.WebhookIDs, "retention.seen": r.Seen, "retention.sweep_interval": r.SweepInterval} {
		if d <= 0 {
			v.add(field, "must be greater than 0")
		}
	}
	// Replicas chain, MAC and fingerprint with the data-at-rest key: they
	// need the same one, and a key generated on one machine's disk is on
	// none of the others.
	if len(v.cfg.Encryption.Keys) == 0 {
		switch {
		case v.cfg.Storage.Driver == "postgres":
			v.add("encryption.keys", "required when storage.driver is postgres: every replica must MAC the audit log and fingerprint keys with the same key (give each the same encryption.keys, e.g. secret: env:INTELGATE_DATA_KEY)")
		case v.cfg.Shared.Driver == "redis":
			v.add("encryption.keys", "required when shared.driver is redis: every replica must seal the shared cache and fingerprint keys with the same key (give each the same encryption.keys, e.g. secret: env:INTELGATE_DATA_KEY)")
		}
	}
}
