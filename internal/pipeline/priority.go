package pipeline

import (
	"context"

	"github.com/intelgate/intelgate/internal/provider"
)

// Priority is whose a call is: an interactive caller waiting for its answer
// now, or bulk work (an item of a bulk job) that the queue can put aside.
// It decides how the governor is asked (govern.Governor.Acquire or
// AcquireBulk) and travels explicitly, never in a context: a coalesced call
// carries none of its callers' context values.
type Priority uint8

const (
	// Interactive may wait for capacity (within max_wait and its deadline)
	// and may use all of it, the interactive reserve included.
	Interactive Priority = iota
	// Bulk never waits for capacity and never takes the interactive
	// reserve: the governor refuses it at once with a Retry-After instead.
	Bulk
)

func (p Priority) String() string {
	if p == Bulk {
		return "bulk"
	}
	return "interactive"
}

// interactiveOnly names the flight of interactive callers that asked again
// after sharing a bulk call the governor refused: no bulk caller joins it.
const interactiveOnly = "\x00interactive"

// LookupAt answers req for a client of environment env at priority pri.
// Identical concurrent lookups share one upstream call whatever their
// priorities, run at the priority of the caller that started it, and each
// caller gets the shared call's Outcome with Shared set. Mixed priorities
// cost neither side:
//
//   - a bulk caller that joins an interactive call shares its answer
//     without spending a unit, so it never takes the reserve (it waits as
//     long as that call does, which is no wait of its own in the governor);
//   - an interactive caller that joins a bulk call the governor then
//     refused (bulk stops short of the reserve, and never waits) does not
//     inherit the refusal: it asks again at its own priority, sharing that
//     call only with other interactive callers. So an interactive caller
//     never waits behind, or is refused because of, bulk work.
func (p *Pipeline) LookupAt(ctx context.Context, env string, pri Priority, req provider.Request) (Outcome, error) {
	start := p.o.Clock.Now()
	key := coalesceKey(env, req)
	out, shared, err := p.coalescer.Do(ctx, key, func(ctx context.Context) (Outcome, error) {
		return p.attempts(ctx, env, pri, req)
	})
	if shared && pri == Interactive && out.bulkRefused && ctx.Err() == nil {
		out, shared, err = p.coalescer.Do(ctx, key+interactiveOnly, func(ctx context.Context) (Outcome, error) {
			return p.attempts(ctx, env, Interactive, req)
		})
	}
	if out.Shared = shared; shared {
		// The call is counted once, for the caller that made it.
		out.Attempts, out.Units = 0, 0
	}
	out.bulkRefused = false
	out.Latency = p.o.Clock.Now().Sub(start)
	return out, err
}
