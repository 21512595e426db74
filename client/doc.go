// Package client is the Go SDK for intelgate, the self-hosted gateway in
// front of threat-intelligence APIs.
//
// An application holds one gateway token, never a vendor key:
//
//	c, err := client.New("https://intelgate.internal:8443", os.Getenv("INTELGATE_TOKEN"))
//	res, err := c.Lookup(ctx, "8.8.8.8", nil)
//
// The client retries only what is safe and useful to retry — 429 and 503
// answers, and connection failures before any response — honouring the
// gateway's Retry-After (seconds or HTTP-date) up to a cap, and otherwise
// backing off exponentially with full jitter. It never waits past the
// context's deadline: when the next wait would end after it, the last error
// is returned at once so the caller can fail fast or degrade. A bulk job
// submission always carries an Idempotency-Key (the caller's, or one
// generated for the call), so a retried submission never creates a second
// job.
//
// Errors from the gateway are *Error values carrying the RFC 9457 problem
// details; use errors.As or the Is* helpers. No error, log line or panic of
// this package contains the token.
package client
