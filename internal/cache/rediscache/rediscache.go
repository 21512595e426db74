// Package rediscache is the distributed durable cache tier: sealed records
// in Redis (cache.Records), shared by every replica, with the fill lease
// that elects one replica to fetch a missing key (cache.Leaser) and the
// pub/sub bus that carries purges to every replica's hot tier
// (cache.Broadcaster).
//
// Redis only ever sees what cache.Sealed gives it: key names are built
// from the provider name (configuration) and keyed HMACs, bodies are
// sealed, and purge messages name a provider at most — never an indicator,
// which MONITOR, a replica's logs or any other subscriber could read.
//
// Key layout (Prefix defaults to "intelgate:"):
//
//	{prefix}cache:{provider}:{id}          hash t=tag b=sealed body e=Expires (Unix ms); PX = Expires - now
//	{prefix}cache-tag:{provider}:{tag}     set of the ids put with tag (purge index); PX = its longest record's
//	{prefix}cache-lease:{id}               fill lease: a random token; PX = ttl
//	{prefix}cache-purge                    pub/sub channel of purges
//
// A record is keyed by provider and id alone, as the contract partitions
// them, so a Put replaces the record with its id whatever its tag. The tag
// set lets an indicator purge find its records without walking the
// keyspace; a member whose record was since deleted, expired or re-tagged
// is simply skipped (the purge checks each record's own tag), and the set
// expires with its longest-lived record.
//
// Expiry is decided on this replica's clock (Options.Clock), as the SQLite
// store does, from the Expires each record carries; PX is the garbage
// collector that keeps Redis from growing.
//
// On Redis Cluster the prefix must be a hash tag ("{intelgate}:"): the
// Put and purge scripts touch a record and its tag set together.
package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/clock"
)

// Default option values.
const (
	DefaultPrefix    = "intelgate:"
	DefaultOpTimeout = 250 * time.Millisecond
)

// scanCount is the COUNT hint of each SCAN round trip: large enough that
// a purge of a big cache takes few round trips, small enough that each
// stays well within OpTimeout.
const scanCount = 500

// maxMessage bounds a purge message a subscriber decodes: anyone who can
// PUBLISH on the channel can send one.
const maxMessage = 4096

// Options configure Records.
type Options struct {
	// Prefix starts every key and the channel, so several gateways (or
	// tests) can share one Redis database. Default "intelgate:".
	Prefix string
	// OpTimeout bounds each round trip, so a slow or unreachable Redis
	// costs a lookup at most this much before it is treated as a miss.
	// Purge and Scan walk the keyspace in several round trips, each
	// bounded by OpTimeout; the caller's context bounds the whole. Default
	// 250ms.
	OpTimeout time.Duration
	// Clock is this replica's time, which decides whether a record is
	// still live and its PX (nil: the system clock).
	Clock clock.Clock
}

// WithDefaults returns o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	return o
}

// Records is cache.Records, cache.Leaser and cache.Broadcaster on Redis.
// It is safe for concurrent use.
type Records struct {
	client redis.UniversalClient
	opts   Options
	clk    clock.Clock
}

var (
	_ cache.Records     = (*Records)(nil)
	_ cache.Leaser      = (*Records)(nil)
	_ cache.Broadcaster = (*Records)(nil)
)

// New returns Records on client, which the caller keeps owning. OpTimeout
// is applied through the context, so client must have
// ContextTimeoutEnabled set; otherwise socket reads wait for the client's
// own ReadTimeout instead (redisstate.Open's clients have it).
func New(client redis.UniversalClient, opts Options) *Records {
	opts = opts.WithDefaults()
	return &Records{client: client, opts: opts, clk: clock.Or(opts.Clock)}
}

// do runs fn under OpTimeout. Errors carry op and the cause (go-redis's
// errors name the address at most, never the URL or a password), and
// say so when it is our timeout rather than the caller's context.
func (r *Records) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rediscache: %s: %w", op, err)
	}
	opCtx, cancel := context.WithTimeout(ctx, r.opts.OpTimeout)
	defer cancel()
	err := fn(opCtx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("rediscache: %s: %w", op, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("rediscache: %s: no answer within %s: %w", op, r.opts.OpTimeout, err)
	}
	return fmt.Errorf("rediscache: %s: %w", op, err)
}

// errParts: a provider holding ':' would make a key ambiguous (Scan parses
// keys back), and an empty part names nothing.
var errParts = errors.New("provider and id must be non-empty, and provider hold no ':'")

// recordPrefix starts the keys of provider's records.
func (r *Records) recordPrefix(provider string) string {
	return r.opts.Prefix + "cache:" + provider + ":"
}

// recordKey is where provider's record id lives.
func (r *Records) recordKey(provider, id string) (string, error) {
	if provider == "" || id == "" || strings.Contains(provider, ":") {
		return "", errParts
	}
	return r.recordPrefix(provider) + id, nil
}

// tagKey is the purge index of provider's tag.
func (r *Records) tagKey(provider, tag string) string {
	return r.opts.Prefix + "cache-tag:" + provider + ":" + tag
}

// parseKey is recordKey's inverse; false for a key that is not a record's.
func (r *Records) parseKey(key string) (provider, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, r.opts.Prefix+"cache:")
	if !ok {
		return "", "", false
	}
	provider, id, ok = strings.Cut(rest, ":")
	return provider, id, ok && provider != "" && id != ""
}

// Hash fields of a record.
const (
	fieldTag     = "t"
	fieldBody    = "b"
	fieldExpires = "e"
)

// decodeFields turns an HMGET of (t, b, e) into a record of provider and
// id, if it is there and live at now.
func decodeFields(vals []any, provider, id string, now time.Time) (cache.Record, bool) {
	if len(vals) != 3 {
		return cache.Record{}, false
	}
	tag, ok1 := vals[0].(string)
	body, ok2 := vals[1].(string)
	e, ok3 := vals[2].(string)
	ms, err := strconv.ParseInt(e, 10, 64)
	if !ok1 || !ok2 || !ok3 || err != nil {
		return cache.Record{}, false // absent, or half-written by something else
	}
	expires := time.UnixMilli(ms).UTC()
	if !now.Before(expires) {
		return cache.Record{}, false
	}
	return cache.Record{Ref: cache.Ref{ID: id, Tag: tag}, Provider: provider, Body: []byte(body), Expires: expires}, true
}

// Get reads every ref's record in one round trip (a pipeline of HMGETs)
// and returns the first live one, in refs' order.
func (r *Records) Get(ctx context.Context, provider string, refs []cache.Ref) (cache.Record, bool, error) {
	if len(refs) == 0 {
		return cache.Record{}, false, nil
	}
	keys := make([]string, len(refs))
	for i, ref := range refs {
		k, err := r.recordKey(provider, ref.ID)
		if err != nil {
			return cache.Record{}, false, fmt.Errorf("rediscache: reading cache record: %w", err)
		}
		keys[i] = k
	}
	cmds := make([]*redis.SliceCmd, len(keys))
	err := r.do(ctx, "reading cache record", func(ctx context.Context) error {
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.HMGet(ctx, k, fieldTag, fieldBody, fieldExpires)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return cache.Record{}, false, err
	}
	now := r.clk.Now()
	for i, c := range cmds {
		if rec, ok := decodeFields(c.Val(), provider, refs[i].ID, now); ok {
			return rec, true, nil
		}
	}
	return cache.Record{}, false, nil
}

// putScript replaces a record and adds its id to its tag's set, extending
// the set's life to the record's if that is longer, atomically, so a purge
// never sees a record missing from its set.
//
// KEYS: record, tag set. ARGV: tag, body, expires (Unix ms), PX, id.
var putScript = redis.NewScript(`
redis.call("DEL", KEYS[1])
redis.call("HSET", KEYS[1], "t", ARGV[1], "b", ARGV[2], "e", ARGV[3])
redis.call("PEXPIRE", KEYS[1], ARGV[4])
redis.call("SADD", KEYS[2], ARGV[5])
if redis.call("PTTL", KEYS[2]) < tonumber(ARGV[4]) then
	redis.call("PEXPIRE", KEYS[2], ARGV[4])
end
return 1`)

// Put stores rec, replacing provider's record with its ID, with PX =
// Expires - now. An already expired rec is not written; the copy it
// replaces is unlinked.
func (r *Records) Put(ctx context.Context, rec cache.Record) error {
	key, err := r.recordKey(rec.Provider, rec.ID)
	if err == nil && rec.Tag == "" {
		err = errors.New("tag must be non-empty")
	}
	if err != nil {
		return fmt.Errorf("rediscache: writing cache record: %w", err)
	}
	ttl := rec.Expires.Sub(r.clk.Now())
	return r.do(ctx, "writing cache record", func(ctx context.Context) error {
		if ttl <= 0 {
			return r.client.Unlink(ctx, key).Err()
		}
		px := ceilMillis(ttl).Milliseconds()
		return putScript.Run(ctx, r.client, []string{key, r.tagKey(rec.Provider, rec.Tag)},
			rec.Tag, rec.Body, rec.Expires.UnixMilli(), px, rec.ID).Err()
	})
}

// ceilMillis rounds d up to Redis's PX resolution, so nothing is written
// with PX 0 and Redis never drops a record before its Expires.
func ceilMillis(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// Delete unlinks provider's record at ref; absent is not an error. Its id
// stays in its tag's set until a purge or expiry removes it.
func (r *Records) Delete(ctx context.Context, provider string, ref cache.Ref) error {
	key, err := r.recordKey(provider, ref.ID)
	if err != nil {
		return fmt.Errorf("rediscache: deleting cache record: %w", err)
	}
	return r.do(ctx, "deleting cache record", func(ctx context.Context) error {
		return r.client.Unlink(ctx, key).Err()
	})
}

// purgeTagScript deletes the records in a tag set that still carry that
// tag, then the set, and counts the records.
//
// KEYS: tag set. ARGV: the provider's record key prefix, tag.
var purgeTagScript = redis.NewScript(`
local n = 0
for _, id in ipairs(redis.call("SMEMBERS", KEYS[1])) do
	local k = ARGV[1] .. id
	if redis.call("HGET", k, "t") == ARGV[2] then
		n = n + redis.call("DEL", k)
	end
end
redis.call("DEL", KEYS[1])
return n`)

// Purge removes provider's records whose tag is one of tags, through the
// tag sets (one round trip per tag); every record of provider when tags is
// nil, and every record when provider is "" too, found with SCAN MATCH
// and unlinked with their tag sets. It counts the records removed. A
// non-nil empty tags selects nothing: a purge never widens because a
// caller's list came out empty.
func (r *Records) Purge(ctx context.Context, provider string, tags []string) (int, error) {
	const op = "purging cache records"
	switch {
	case provider == "" && tags != nil:
		return 0, fmt.Errorf("rediscache: %s: tags need a provider", op)
	case provider == "":
		return r.purgeMatching(ctx, r.opts.Prefix+"cache:", r.opts.Prefix+"cache-tag:")
	case strings.Contains(provider, ":"):
		return 0, fmt.Errorf("rediscache: %s: %w", op, errParts)
	case tags == nil:
		return r.purgeMatching(ctx, r.recordPrefix(provider), r.tagKey(provider, ""))
	}
	n := 0
	for _, tag := range tags {
		var k int64
		err := r.do(ctx, op, func(ctx context.Context) error {
			var err error
			k, err = purgeTagScript.Run(ctx, r.client, []string{r.tagKey(provider, tag)}, r.recordPrefix(provider), tag).Int64()
			return err
		})
		n += int(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// purgeMatching unlinks every key starting with records (counted), then
// every key starting with tags (the sets indexing them; not counted).
func (r *Records) purgeMatching(ctx context.Context, records, tags string) (int, error) {
	const op = "purging cache records"
	n := 0
	err := r.scan(ctx, op, globEscape(records)+"*", func(ctx context.Context, keys []string) error {
		k, err := r.unlink(ctx, keys)
		n += k
		return err
	})
	if err != nil {
		return n, err
	}
	err = r.scan(ctx, op, globEscape(tags)+"*", func(ctx context.Context, keys []string) error {
		_, err := r.unlink(ctx, keys)
		return err
	})
	return n, err
}

// unlink unlinks keys in one round trip, one command per key (a multi-key
// UNLINK would be refused across Cluster slots), and counts those removed.
func (r *Records) unlink(ctx context.Context, keys []string) (int, error) {
	cmds := make([]*redis.IntCmd, len(keys))
	err := r.do(ctx, "purging cache records", func(ctx context.Context) error {
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.Unlink(ctx, k)
			}
			return nil
		})
		return err
	})
	n := 0
	for _, c := range cmds {
		if c != nil {
			n += int(c.Val())
		}
	}
	return n, err
}

// Scan calls fn for each live record under the prefix, read a SCAN batch
// at a time (one pipeline of HMGETs per batch). fn runs between round
// trips and may Put and Delete. Each record is visited once even where
// SCAN returns a key twice (Scan remembers the keys it has seen: memory
// grows with the cache, which is fine for the rekey pass it serves); a
// record Put during the Scan may or may not be visited.
func (r *Records) Scan(ctx context.Context, fn func(cache.Record) error) error {
	seen := make(map[string]struct{})
	pattern := globEscape(r.opts.Prefix+"cache:") + "*"
	return r.scan(ctx, "scanning cache records", pattern, func(ctx context.Context, keys []string) error {
		var fresh []string
		for _, k := range keys {
			if _, dup := seen[k]; !dup {
				seen[k] = struct{}{}
				fresh = append(fresh, k)
			}
		}
		recs, err := r.read(ctx, fresh)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return errStop{err}
			}
		}
		return nil
	})
}

// errStop carries fn's error out of Scan unwrapped.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

// read fetches the live records at keys; keys that vanished, expired or do
// not parse as a record's are skipped.
func (r *Records) read(ctx context.Context, keys []string) ([]cache.Record, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(keys))
	err := r.do(ctx, "scanning cache records", func(ctx context.Context) error {
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.HMGet(ctx, k, fieldTag, fieldBody, fieldExpires)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	now := r.clk.Now()
	recs := make([]cache.Record, 0, len(keys))
	for i, k := range keys {
		provider, id, ok := r.parseKey(k)
		if !ok {
			continue
		}
		if rec, ok := decodeFields(cmds[i].Val(), provider, id, now); ok {
			recs = append(recs, rec)
		}
	}
	return recs, nil
}

// scan runs SCAN MATCH pattern to the end, each round trip under
// OpTimeout, calling batch with every non-empty batch of keys. On Cluster
// it walks every master.
func (r *Records) scan(ctx context.Context, op, pattern string, batch func(ctx context.Context, keys []string) error) error {
	walk := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			var keys []string
			err := r.do(ctx, op, func(ctx context.Context) error {
				var err error
				keys, cursor, err = c.Scan(ctx, cursor, pattern, scanCount).Result()
				return err
			})
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := batch(ctx, keys); err != nil {
					return err
				}
			}
			if cursor == 0 {
				return nil
			}
		}
	}
	var err error
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return walk(ctx, c) })
	} else {
		err = walk(ctx, r.client)
	}
	if stop, ok := errors.AsType[errStop](err); ok {
		return stop.err
	}
	return err
}

// globEscape escapes s for a SCAN MATCH pattern. Provider names are
// restricted by configuration and tags are base64url, so nothing here
// should need it; it keeps a future caller's input from widening a purge.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// releaseScript deletes a lease only while it still holds the caller's
// token: a holder whose lease expired and was taken by another replica
// must not delete that replica's lease.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Lease tries to become the fetcher of id for ttl (SET NX PX with a random
// token). release is never nil; it gives the lease up at most once, and
// only if this holder still has it. It runs under OpTimeout on a context
// of its own, since it is called after the fetch, when the request's
// context may have ended; if it fails, the lease simply expires.
func (r *Records) Lease(ctx context.Context, id string, ttl time.Duration) (bool, func(), error) {
	noop := func() {}
	if id == "" || ttl <= 0 {
		return false, noop, errors.New("rediscache: taking fill lease: id and a positive ttl are required")
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:]) // crypto/rand.Read never fails
	token := hex.EncodeToString(tok[:])
	key := r.opts.Prefix + "cache-lease:" + id
	var held bool
	err := r.do(ctx, "taking fill lease", func(ctx context.Context) error {
		var err error
		held, err = r.client.SetNX(ctx, key, token, ceilMillis(ttl)).Result()
		return err
	})
	if err != nil || !held {
		return false, noop, err
	}
	var once sync.Once
	return true, func() {
		once.Do(func() {
			_ = r.do(context.Background(), "releasing fill lease", func(ctx context.Context) error {
				return releaseScript.Run(ctx, r.client, []string{key}, token).Err()
			})
		})
	}, nil
}

// message is a purge on the wire. It names a provider at most: a
// per-indicator purge is published as its provider's, because an
// indicator — or anything derived from it — must not travel on a channel
// every client of the Redis can read (and a tag in Scope.Indicators would
// silently match nothing in a receiver's hot tier). Receivers clear that
// provider's hot entries and refill them from the durable tier, which the
// publisher has already purged precisely.
type message struct {
	V        int    `json:"v"`
	Provider string `json:"provider,omitempty"`
	All      bool   `json:"all,omitempty"`
}

func (r *Records) channel() string { return r.opts.Prefix + "cache-purge" }

// Publish announces a purge of s to every replica's Subscribe. Scopes with
// Indicators are widened to their provider (see message).
func (r *Records) Publish(ctx context.Context, s cache.Scope) error {
	m := message{V: 1, Provider: s.Provider, All: s.Provider == ""}
	if m.All && len(s.Indicators) > 0 {
		return errors.New("rediscache: publishing purge: indicators need a provider")
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("rediscache: publishing purge: %w", err)
	}
	return r.do(ctx, "publishing purge", func(ctx context.Context) error {
		return r.client.Publish(ctx, r.channel(), payload).Err()
	})
}

// Subscribe calls fn, one call at a time, for every purge published by any
// replica until ctx ends, then returns nil once its goroutines have
// stopped. Received scopes never carry Indicators (see message).
//
// It survives Redis restarts and network failures: go-redis's PubSub
// reconnects and resubscribes by itself, and pings an idle connection to
// find one that died silently. Purges published while this replica was
// disconnected are lost to it, so after every resubscription fn is called
// with the zero Scope (every provider): this replica's hot tier is
// cleared and refilled from the durable tier, which those purges did
// reach. Malformed messages are ignored.
func (r *Records) Subscribe(ctx context.Context, fn func(cache.Scope)) error {
	ps := r.client.Subscribe(ctx, r.channel())
	ch := ps.ChannelWithSubscriptions()
	defer func() {
		_ = ps.Close()
		// Drain until go-redis's receiver sees the close and exits, so
		// no goroutine of ours outlives Subscribe.
		for range ch {
		}
	}()
	subscribed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return errors.New("rediscache: purge subscription closed (client closed?)")
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" {
					continue
				}
				if subscribed {
					fn(cache.Scope{}) // resubscribed: purges may have been missed
				}
				subscribed = true
			case *redis.Message:
				if s, ok := decode(m.Payload); ok {
					fn(s)
				}
			}
		}
	}
}

// decode parses a purge message; false for anything malformed, oversized
// or of another version.
func decode(payload string) (cache.Scope, bool) {
	if len(payload) > maxMessage {
		return cache.Scope{}, false
	}
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.V != 1 {
		return cache.Scope{}, false
	}
	switch {
	case m.All && m.Provider == "":
		return cache.Scope{}, true
	case !m.All && m.Provider != "":
		return cache.Scope{Provider: m.Provider}, true
	}
	return cache.Scope{}, false
}
