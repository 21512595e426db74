package pipeline

import (
	"context"
	"time"

	"github.com/intelgate/intelgate/internal/observe"
)

// recheckBackoff is how long a revoked key waits before each auth check
// that may bring it back: the last step repeats. A vendor-side incident
// that refused a good key ends within minutes; a key that is really dead
// costs one check a day.
var recheckBackoff = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour}

// recheckPoll is how often Recheck looks for newly revoked keys (another
// replica may have revoked one).
const recheckPoll = 30 * time.Second

// recheck is one revoked key's place in the backoff.
type recheck struct {
	step int
	next time.Time
}

// Recheck re-checks the provider's revoked keys with the auth check until
// ctx ends, restoring each on every replica when the check accepts it. It
// does nothing without an auth check. Run it once per pipeline.
func (p *Pipeline) Recheck(ctx context.Context) {
	if p.o.Check == nil {
		return
	}
	state := map[string]*recheck{}
	for {
		p.recheckOnce(ctx, state)
		select {
		case <-ctx.Done():
			return
		case <-p.o.Clock.After(recheckPoll):
		}
	}
}

// recheckOnce makes one pass over the keys. Every replica runs the same
// schedule; the check claim lets one of them check, and the others move to
// the next step as if they had (a restore is visible to all of them).
func (p *Pipeline) recheckOnce(ctx context.Context, state map[string]*recheck) {
	name := p.o.Provider.Name()
	for _, k := range p.o.Governor.Keys(name) {
		revoked, err := p.o.Governor.Revoked(ctx, name, k.ID)
		if err != nil {
			continue // state unreachable: try again next poll
		}
		if revoked {
			// An operator's revocation is not the re-check's to lift:
			// the key may well still work (it leaked).
			if byOperator, err := p.o.Governor.RevokedByOperator(ctx, name, k.ID); err != nil || byOperator {
				delete(state, k.ID)
				continue
			}
		}
		st := state[k.ID]
		now := p.o.Clock.Now()
		switch {
		case !revoked:
			delete(state, k.ID)
			continue
		case st == nil:
			state[k.ID] = &recheck{next: now.Add(recheckBackoff[0])}
			continue
		case now.Before(st.next):
			continue
		}
		log := p.o.Log.With("provider", name, "key_id", k.ID)
		claimed, err := p.o.Governor.ClaimCheck(ctx, name, k.ID, p.o.CheckEvery)
		if err != nil {
			continue
		}
		if !claimed {
			st.advance(now)
			continue
		}
		verdict, checked, err := p.check(ctx, name, k.ID, "recheck")
		switch verdict {
		case checkPassed:
			if err := p.o.Governor.RestoreLease(ctx, checked); err != nil { // the secret that passed
				log.Warn("restoring upstream key", "error", err)
				st.next = now.Add(p.o.CheckEvery)
				continue
			}
			log.Warn("security event: auth check accepts the revoked key again; back in rotation",
				"event", "upstream_key_restored")
			p.observe(ctx, observe.KeyRestored{Provider: name, KeyID: k.ID})
			delete(state, k.ID)
		case checkRefused:
			if err := p.o.Governor.RevokeLease(ctx, checked); err != nil { // extend past the next check
				log.Warn("extending revocation", "error", err)
			} else {
				p.observe(ctx, observe.KeyRevoked{Provider: name, KeyID: k.ID, Renewed: true})
			}
			st.advance(now)
			log.Info("revoked upstream key is still refused", "event", "upstream_key_still_revoked",
				"next_check", st.next.UTC().Format(time.RFC3339))
		default:
			st.next = now.Add(p.o.CheckEvery) // no answer about the key: same step, soon
			log.Info("re-check of revoked key was inconclusive", "error", err)
		}
	}
}

// advance moves to the next backoff step after a check at now.
func (r *recheck) advance(now time.Time) {
	r.step = min(r.step+1, len(recheckBackoff)-1)
	r.next = now.Add(recheckBackoff[r.step])
}
