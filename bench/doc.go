// Package bench holds intelgate's benchmarks: upstream efficiency under a
// Zipf workload, pacing against a provider's rate limit, and the latency
// overhead of the gateway against direct calls and nginx. They are Go
// benchmarks (go test -bench) so they run the real chain in-process against
// the real simulator over TLS on loopback; bench/run.sh runs them all and
// prints a summary. docs/benchmarks.md explains every number and its floor.
//
// Nothing here runs under a plain `go test ./...` beyond a few fast unit
// tests of the measuring code itself.
package bench
