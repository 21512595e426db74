package pipeline

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/intelgate/intelgate/internal/govern"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// preferPreviousFor is how long, after the upstream refused a rotated
// key's new secret and took its previous one, lookups go straight to the
// previous secret before the new one is tried again: during a vendor's
// activation delay each lookup then costs one call, not two.
const preferPreviousFor = 30 * time.Second

// overlapRefused reports whether err is a refusal that the previous secret
// of l's key may answer instead: a rotation.overlap is running (the lease
// carries a previous secret) and the upstream refused the new one with a
// status that would make the key suspect.
func (p *Pipeline) overlapRefused(l *govern.Lease, err error) bool {
	var ue *upstream.Error
	return l != nil && !l.Previous.IsZero() && errors.As(err, &ue) && ue.Kind == upstream.KindAuth &&
		slices.Contains(p.o.RevokeOn, ue.Status)
}

// withOther makes the lookup again with the other secret of l's key
// (the previous one when the current one was refused, or the reverse), on
// a unit of its own: what the vendor counts, the governor counts. During
// the overlap the vendor may not have activated the new secret yet, or
// may have retired the old one already; either way one of the two still
// answers, and no request is stranded while the vendor and the store
// catch up. The key is not made suspect for it. It reports false when no
// second call was made.
func (p *Pipeline) withOther(ctx context.Context, req provider.Request, l *govern.Lease, usedPrevious bool, out *Outcome) (provider.Result, error, bool) {
	if usedPrevious {
		// The previous secret is refused now: back to the current one,
		// for this lookup and the next.
		p.preferPrevious.Delete(l.KeyID)
	}
	other, err := p.o.Governor.AcquireKey(ctx, l.Provider, l.KeyID)
	if err != nil {
		return provider.Result{}, nil, false
	}
	if other.Previous.IsZero() || other.Previous.Reveal() != l.Previous.Reveal() || other.Key.Reveal() != l.Key.Reveal() {
		p.refund(ctx, other) // the overlap ended, or the key rotated again, meanwhile
		return provider.Result{}, nil, false
	}
	key := other.Previous
	if usedPrevious {
		key = other.Key
	}
	res, err := p.callWith(ctx, req, other, key, out)
	switch {
	case err == nil && !usedPrevious:
		p.preferPrevious.Store(l.KeyID, overlapPreference{previous: other.Previous, until: p.o.Clock.Now().Add(preferPreviousFor)})
		p.o.Log.Warn("upstream refused a rotated key's new secret; its previous secret, still within rotation.overlap, answered",
			"event", "upstream_key_overlap", "provider", l.Provider, "key_id", l.KeyID, "client", req.Client)
	case err == nil:
		p.o.Log.Info("upstream now refuses a rotated key's previous secret and takes the new one", "event", "upstream_key_overlap_ended",
			"provider", l.Provider, "key_id", l.KeyID)
	}
	return res, err, true
}

// overlapPreference remembers that the upstream took a key's previous
// secret after refusing its new one, until when.
type overlapPreference struct {
	previous secret.Value
	until    time.Time
}

// usePrevious reports whether a lookup on l sends the key's previous
// secret: within the overlap, while the upstream has recently refused the
// current one and taken that very previous secret (see preferPreviousFor).
func (p *Pipeline) usePrevious(l *govern.Lease) bool {
	if l.Previous.IsZero() {
		return false
	}
	v, ok := p.preferPrevious.Load(l.KeyID)
	if !ok {
		return false
	}
	pref := v.(overlapPreference)
	if pref.previous.Reveal() != l.Previous.Reveal() || !p.o.Clock.Now().Before(pref.until) {
		p.preferPrevious.CompareAndDelete(l.KeyID, v)
		return false
	}
	return true
}
