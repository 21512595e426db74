package audit

import (
	"strconv"
	"strings"

	"github.com/intelgate/intelgate/internal/indicator"
)

// Keys are the data-at-rest keys (a *seal.Keyring): their HMAC protects
// indicators and authenticates checkpoints, their AEAD seals plaintext
// indicators. The messages MAC'd here begin with a purpose of their own,
// ended by a NUL, so no audit value equals a cache index of the same
// input.
type Keys interface {
	Writer() string
	IndexUnder(keyID, msg string) (string, bool)
	Seal(ad, plaintext []byte) ([]byte, error)
	Open(ad, record []byte) (plaintext []byte, keyID string, err error)
}

const (
	purposeIndicator  = "intelgate-audit-indicator\x00"
	purposeCheckpoint = "intelgate-audit-checkpoint\x00"
	purposeHead       = "intelgate-audit-head\x00"
)

// mac is "keyid:" + the writer key's HMAC of msg.
func mac(k Keys, msg string) string {
	id := k.Writer()
	v, _ := k.IndexUnder(id, msg) // the writer is always held
	return id + ":" + v
}

// checkMAC verifies a value made by mac under whichever key it names;
// known is false when the keyring no longer holds that key.
func checkMAC(k Keys, msg, value string) (ok, known bool) {
	id, v, found := strings.Cut(value, ":")
	if !found {
		return false, true
	}
	want, held := k.IndexUnder(id, msg)
	if !held {
		return false, false
	}
	return want == v, true
}

func checkpointMessage(seq int64, prev string) string {
	return purposeCheckpoint + strconv.FormatInt(seq, 10) + "\x00" + prev
}

// headMessage is what a head's MAC covers: the chain's end and its start.
func headMessage(h Head) string {
	return purposeHead + strconv.FormatInt(h.Seq, 10) + "\x00" + h.Hash + "\x00" +
		strconv.FormatInt(h.AnchorSeq, 10) + "\x00" + h.AnchorPrev
}

// checkpointMAC authenticates a checkpoint's place in the chain: its seq
// and the hash of everything before it.
func checkpointMAC(k Keys, seq int64, prev string) string {
	return mac(k, checkpointMessage(seq, prev))
}

// IndicatorHMAC is the protected form of an indicator kept in audit
// records under audit.indicators: hmac: the type and normalised value,
// MAC'd with the writer key. An operator holding the config can compute
// it for an indicator they are asked about and search the log for it
// (intelgate audit export --indicator; IndicatorHMACs).
func IndicatorHMAC(k Keys, typ indicator.Type, value string) string {
	return mac(k, purposeIndicator+string(typ)+"\x00"+value)
}

// KeyIDs is what IndicatorHMACs needs beyond Keys: every key id held.
type KeyIDs interface {
	Keys
	IDs() []string
}

// IndicatorHMACs is the indicator's protected form under every key held,
// so a search finds records written before a data-at-rest key rotation.
func IndicatorHMACs(k KeyIDs, typ indicator.Type, value string) []string {
	var out []string
	for _, id := range k.IDs() {
		v, _ := k.IndexUnder(id, purposeIndicator+string(typ)+"\x00"+value)
		out = append(out, id+":"+v)
	}
	return out
}

// indicatorAD binds a sealed indicator to its purpose.
var indicatorAD = []byte(purposeIndicator)
