// Package resilience holds the request-path primitives that keep intelgate
// useful while an upstream is sick, without making it sicker:
//
//   - Breaker: a per-provider circuit breaker, so a failing upstream is
//     given room to recover and callers fail fast instead of queueing;
//   - Policy and Retryable: which failures are worth another attempt, and
//     how long to back off (full jitter, so retries do not synchronise);
//   - Budget: a cap on retries as a fraction of first attempts, so retries
//     never multiply the load on an upstream that is already failing;
//   - Coalescer: identical concurrent lookups share one upstream call, while
//     each caller keeps its own deadline.
//
// Each is in-process and independent of the others; internal/pipeline
// composes them (coalesce, then retries around breaker → governor →
// transport). Pacing and pauses shared between replicas belong to
// internal/govern, not here.
package resilience
