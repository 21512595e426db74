package cache

import (
	"time"
)

// Policy is one provider's cache policy (providers.*.cache, capped by
// retention.cache_max_ttl).
type Policy struct {
	Enabled     bool
	TTL         time.Duration
	NegativeTTL time.Duration // 0: not_found answers are not kept
	// TTLByType overrides TTL per indicator type.
	TTLByType    map[string]time.Duration
	StaleIfError time.Duration // 0: nothing is served stale
	PerClient    bool
	// MaxTTL caps every lifetime, stale_if_error included (retention).
	MaxTTL time.Duration
	// Lease bounds how long one replica may hold the fill of a key while
	// the others wait for its answer: about one upstream call with its
	// retries.
	Lease time.Duration
}

// Entry shapes an answer fetched at now into an entry with its lifetimes,
// or reports that it is not to be kept (caching off, a not_found answer
// with no negative_ttl).
func (p Policy) Entry(now time.Time, typ string, data []byte, notFound bool) (Entry, bool) {
	if !p.Enabled {
		return Entry{}, false
	}
	ttl := p.TTL
	if d, ok := p.TTLByType[typ]; ok {
		ttl = d
	}
	if notFound {
		ttl = p.NegativeTTL
	}
	ttl = p.capped(ttl)
	if ttl <= 0 {
		return Entry{}, false
	}
	life := max(ttl, p.capped(p.StaleIfError))
	e := Entry{NotFound: notFound, FetchedAt: now, FreshUntil: now.Add(ttl), Expires: now.Add(life)}
	if !notFound {
		e.Data = data
	}
	return e, true
}

// ServesStale reports whether e may stand in for a failed upstream at now:
// it is live and no older than stale_if_error.
func (p Policy) ServesStale(e Entry, now time.Time) bool {
	return p.StaleIfError > 0 && e.Live(now) && now.Sub(e.FetchedAt) <= p.capped(p.StaleIfError)
}

func (p Policy) capped(d time.Duration) time.Duration {
	if p.MaxTTL > 0 && d > p.MaxTTL {
		return p.MaxTTL
	}
	return d
}
