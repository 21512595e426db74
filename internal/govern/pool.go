package govern

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/intelgate/intelgate/internal/secret"
)

// ErrInvalidKeyPool wraps every reason New or SwapKeys refuses a key pool.
var ErrInvalidKeyPool = errors.New("invalid key pool")

// ErrUnknownKey: the provider's current key pool has no key with that id
// (it was never configured, or a swap removed it).
var ErrUnknownKey = errors.New("unknown key")

// policyState is one provider's Policy, fixed for the Governor's life, and
// its current key pool, which SwapKeys replaces whole.
type policyState struct {
	Policy // Keys is nil: pool holds them
	pool   atomic.Pointer[keyPool]
	// bulk is what AcquireBulk may use: Policy's limits less the
	// interactive reserve (bulk.go).
	bulk bulkLimits
}

// keyPool is a provider's keys as one New or SwapKeys built them. It is
// never changed once stored, so a reader that loads it once sees one
// consistent pool however often it is swapped meanwhile.
type keyPool struct {
	keys []poolKey      // configured order: backups after the primary
	byID map[string]int // key id → index in keys
}

// poolKey is a Key with its revocation state key, computed once per pool:
// it includes a hash of the secret (a SHA-256 per call would be the hot
// path's largest cost) and is how a lease remembers which secret it has.
type poolKey struct {
	Key
	revoked string
	// The state keys of its pause, rate bucket and quota counters, built
	// once per pool rather than on every Acquire.
	pause, rate, quota string
}

// newKeyPool validates keys in full and builds provider's pool from them.
// Every problem is reported at once, each naming its key by id (or, for a
// key without one, by position), never by its secret.
func newKeyPool(provider string, keys []Key, fp func(secret.Value) string) (*keyPool, error) {
	var problems []string
	if len(keys) == 0 {
		problems = append(problems, "no keys (a pool needs at least one)")
	}
	p := &keyPool{keys: make([]poolKey, 0, len(keys)), byID: make(map[string]int, len(keys))}
	for i, k := range keys {
		if k.ID == "" {
			problems = append(problems, fmt.Sprintf("key %d has no id", i))
			continue
		}
		if _, dup := p.byID[k.ID]; dup {
			problems = append(problems, fmt.Sprintf("duplicate key id %q", k.ID))
			continue
		}
		if k.Value.IsZero() {
			problems = append(problems, fmt.Sprintf("key %q has an empty secret", k.ID))
		}
		p.byID[k.ID] = len(p.keys)
		p.keys = append(p.keys, poolKey{Key: k, revoked: revocationKey(provider, k, fp),
			pause: pauseKey(provider, k.ID), rate: rateKey(provider, k.ID), quota: quotaPrefix(provider, k.ID)})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("govern: provider %q: %w: %s", provider, ErrInvalidKeyPool, strings.Join(problems, "; "))
	}
	return p, nil
}

// find returns the key with id.
func (p *keyPool) find(id string) (poolKey, bool) {
	i, ok := p.byID[id]
	if !ok {
		return poolKey{}, false
	}
	return p.keys[i], true
}

// holds reports whether l's key — the same id with the same secret — is in
// p for environment env.
func (p *keyPool) holds(l *Lease, env string) bool {
	k, ok := p.find(l.KeyID)
	return ok && k.revoked == l.revoked && k.Environment == env
}

// SwapKeys replaces provider's key pool with keys, atomically: the new pool
// is validated and built in full first (ErrUnknownProvider, or
// ErrInvalidKeyPool naming each bad key by id: no keys, an empty or
// duplicate id, an empty secret), and on any error the current pool stays.
// Every call that reads the pool reads it once, so it sees the old pool or
// the new one, never a mix; Acquire reads it once per pass over the keys,
// so a waiter takes its next pass on the pool current then.
//
// State is keyed by what the vendor counts. Rate, quota and pauses are
// keyed by provider and key id, because a key id names one account at the
// vendor, and the vendor counts the account, not the secret: a new secret
// under the same id (rotating an account's key) keeps the day's and
// month's usage, the rate bucket and any pause, since the vendor has not
// forgotten them either. A new account therefore needs a new id, which
// starts with fresh counters; reusing an id for another account would
// carry the old account's usage over (conservative, never over a limit).
// Revocation and the auth-check claim are keyed by the secret's
// fingerprint: they are verdicts on a secret, so a rotated secret starts
// unrevoked and may be checked at once.
//
// Leases in flight keep their KeyID and Key and finish on them, whether or
// not their key is still in the pool:
//   - Refund gives the unit back to the counters it was taken from, so a
//     call that never went out costs the account nothing either way.
//   - Pause pauses the key id. For a removed id it is harmless (no key
//     reads it; it lapses) unless the id comes back, when it still applies:
//     same id, same account, which the vendor told to slow down.
//   - A waiter in Acquire that booked a unit on a key swapped out (or
//     given a new secret) while it slept refunds it and tries the new pool:
//     no call starts on a key that is no longer configured.
//   - Revoke, Restore, Revoked, ClaimCheck and AcquireKey name a key of
//     the current pool; for a removed id they return ErrUnknownKey (a
//     removed key is out of rotation already).
func (g *Governor) SwapKeys(provider string, keys []Key) error {
	p, ok := g.policies[provider]
	if !ok {
		return fmt.Errorf("swapping keys of %q: %w", provider, ErrUnknownProvider)
	}
	pool, err := newKeyPool(provider, keys, g.fp)
	if err != nil {
		return err
	}
	p.pool.Store(pool)
	g.log.Info("upstream key pool swapped", "provider", provider, "keys", len(pool.keys))
	return nil
}

// Keys lists provider's current keys in configured order.
func (g *Governor) Keys(provider string) []Key {
	p, ok := g.policies[provider]
	if !ok {
		return nil
	}
	pool := p.pool.Load()
	out := make([]Key, len(pool.keys))
	for i, k := range pool.keys {
		out[i] = k.Key
	}
	return out
}

// key returns provider's policy and its key keyID, from one snapshot of
// the pool.
func (g *Governor) key(provider, keyID string) (*policyState, poolKey, error) {
	p, ok := g.policies[provider]
	if !ok {
		return nil, poolKey{}, fmt.Errorf("provider %q: %w", provider, ErrUnknownProvider)
	}
	k, ok := p.pool.Load().find(keyID)
	if !ok {
		return nil, poolKey{}, fmt.Errorf("provider %q: %w %q", provider, ErrUnknownKey, keyID)
	}
	return p, k, nil
}

// revocationKey is the state key of k's revocation: it includes the
// secret's fingerprint, so rotating the secret ends a revocation at once.
func revocationKey(provider string, k Key, fp func(secret.Value) string) string {
	return "x:" + provider + ":" + k.ID + ":" + fp(k.Value)
}

// CheckKeys validates keys as SwapKeys would, without swapping anything:
// a reload checks every provider's new pool before it swaps any of them.
func CheckKeys(provider string, keys []Key) error {
	_, err := newKeyPool(provider, keys, func(secret.Value) string { return "" })
	return err
}
