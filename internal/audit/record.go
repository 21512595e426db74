// Package audit is intelgate's tamper-evident audit log: who looked up
// what, when, from where, with which key, and what it cost, kept so that
// an edit made later shows.
//
// Every record carries the SHA-256 of the record before it ("prev"), so
// the records form one hash chain in sequence order: an edited, deleted,
// inserted or reordered row breaks it where it happened, and Verify names
// that record. Periodic checkpoint records carry the chain's position and
// a keyed MAC of it, and are also written to the process log, where an
// operator's log pipeline keeps them: a tail cut off after the last
// checkpoint an operator kept shows against that checkpoint, and a chain
// rewritten from some point on (hashes recomputed) shows at the next
// checkpoint, whose MAC cannot be recomputed without the data-at-rest key.
//
// Writes never wait on the request path: records go through a bounded
// queue to one writer that appends them in batches (Log). A full queue
// drops records, counts them, logs it, and appends a "dropped" record
// saying how many were lost, so a gap is itself on the record.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Kind names what a record is about.
type Kind string

// The record kinds.
const (
	// KindLookup: one lookup or resolve request as a whole: who, from
	// where, which indicator (protected), which providers, and how it
	// ended when it ended before any provider was asked.
	KindLookup Kind = "lookup"
	// KindProviderResult: one provider's part of a lookup: key, cache
	// state, upstream status and latency, units spent.
	KindProviderResult Kind = "provider_result"
	// KindAuthFailure: a request refused for its token or its source;
	// Reason is the class, never the token.
	KindAuthFailure Kind = "auth_failure"
	// KindAdmin: an administrative action (Action: "cache_purge", …).
	KindAdmin Kind = "admin"
	// KindKeyRevoked, KindKeyRestored, KindKeyRotated: an upstream key left
	// rotation, came back, or its secret changed.
	KindKeyRevoked  Kind = "key_revoked"
	KindKeyRestored Kind = "key_restored"
	KindKeyRotated  Kind = "key_rotated"
	// KindCheckpoint: the chain's position, MAC'd (see Checkpoint).
	KindCheckpoint Kind = "checkpoint"
	// KindDropped: Count records were lost because the queue was full.
	KindDropped Kind = "dropped"
	// KindRetention: the retention sweeper deleted Count records, up to
	// the record before Seq's anchor (Detail).
	KindRetention Kind = "retention"
	// KindCorrupt is never stored: a reader (the admin API) shows it in
	// place of a stored row that is not a valid record.
	KindCorrupt Kind = "corrupt"
)

// Record is one audit record. Seq, Prev and Hash are the chain's, set when
// the record is appended; everything else describes the event. Fields that
// do not apply to a kind are left empty and omitted from its encoding.
//
// The field order here is the canonical encoding's order: do not reorder
// fields, and add new ones with omitempty, so records written before keep
// their hashes.
type Record struct {
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`

	RequestID   string `json:"request_id,omitempty"`
	Client      string `json:"client,omitempty"`
	Environment string `json:"environment,omitempty"`
	Source      string `json:"source,omitempty"`
	Operation   string `json:"operation,omitempty"` // lookup, resolve

	Provider  string   `json:"provider,omitempty"`
	Providers []string `json:"providers,omitempty"`
	KeyID     string   `json:"key_id,omitempty"`

	IndicatorType string `json:"indicator_type,omitempty"`
	// IndicatorHMAC is "keyid:" + a keyed HMAC of the normalised indicator
	// (audit.indicators: hmac, the default): a record can be matched
	// against a known indicator by whoever holds the key, and reveals
	// nothing to whoever reads the database.
	IndicatorHMAC string `json:"indicator_hmac,omitempty"`
	// IndicatorSealed is the indicator sealed like cache bodies
	// (audit.indicators: plaintext): readable with the key (the admin
	// API opens it; an export keeps it sealed, as stored).
	IndicatorSealed []byte `json:"indicator_sealed,omitempty"`
	// Indicator is never stored: a reader holding the key (the admin API)
	// fills it from IndicatorSealed. The canonical encoding leaves it out.
	Indicator string `json:"indicator,omitempty"`
	TLP       string `json:"tlp,omitempty"`
	PAP       string `json:"pap,omitempty"`

	// Outcome: lookup "ok" (answered, each provider's part in its own
	// record) or "refused"; provider_result "ok", "not_found", "error" or
	// "withheld".
	Outcome string `json:"outcome,omitempty"`
	// Problem is the problem slug of a refusal or a provider's error.
	Problem        string `json:"problem,omitempty"`
	Cache          string `json:"cache,omitempty"`
	Rule           string `json:"rule,omitempty"`
	UpstreamStatus int    `json:"upstream_status,omitempty"`
	LatencyMicros  int64  `json:"latency_us,omitempty"`
	Attempts       int    `json:"attempts,omitempty"`
	Shared         bool   `json:"shared,omitempty"`
	Units          int    `json:"units,omitempty"`

	Action string `json:"action,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	By     string `json:"by,omitempty"`
	Count  int64  `json:"count,omitempty"`
	// MAC authenticates a checkpoint: "keyid:" + HMAC of its seq and prev.
	MAC string `json:"mac,omitempty"`

	Prev string `json:"prev"`
	// Hash is the SHA-256 of the canonical encoding (which leaves Hash
	// out, and Indicator). It is stored beside the record and exported
	// with it.
	Hash string `json:"hash,omitempty"`
}

// GenesisHash is the prev of the first record ever appended.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Canonical is the encoding a record's hash is computed over: the JSON
// object of its fields in declaration order, empty optional fields left
// out, without Hash, with Time in UTC (RFC 3339, nanoseconds as needed).
// encoding/json is deterministic for this struct, and a record decoded
// from its canonical encoding encodes to the same bytes, so a SIEM holding
// the export can recompute every hash.
func (r Record) Canonical() ([]byte, error) {
	r.Hash, r.Indicator = "", ""
	r.Time = r.Time.UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding audit record: %w", err)
	}
	return b, nil
}

// HashOf is the hex SHA-256 of a canonical encoding.
func HashOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// link sets r's place in the chain after prev and returns its canonical
// encoding and hash.
func link(r *Record, seq int64, prev string) ([]byte, error) {
	r.Seq, r.Prev, r.Hash = seq, prev, ""
	r.Time = r.Time.UTC()
	b, err := r.Canonical()
	if err != nil {
		return nil, err
	}
	r.Hash = HashOf(b)
	return b, nil
}

// decode reads a stored canonical encoding. Fields this binary does not
// know (a newer replica's) are ignored: Verify hashes the stored bytes,
// not a re-encoding, and an export line must equal its own re-encoding
// (VerifyJSONL), which is where strictness belongs.
func decode(canonical []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(canonical, &r); err != nil {
		return Record{}, err
	}
	return r, nil
}
