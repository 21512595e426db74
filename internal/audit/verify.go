package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Fault names how the chain was broken.
type Fault string

// The faults Verify reports.
const (
	FaultAltered   Fault = "altered"
	FaultDeleted   Fault = "deleted"
	FaultInserted  Fault = "inserted"
	FaultReordered Fault = "reordered"
	FaultTruncated Fault = "truncated"
)

// Problem is the first break in the chain: the record it concerns by
// sequence number, and what was found there.
type Problem struct {
	Seq    int64
	Fault  Fault
	Detail string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit record %d %s: %s", p.Seq, p.Fault, p.Detail)
}

// CheckpointRef is a checkpoint an operator kept from the process log
// ("audit checkpoint" lines give seq and hash): the record at Seq must
// still exist and still have Hash.
type CheckpointRef struct {
	Seq  int64
	Hash string
}

// ParseCheckpointRef reads "SEQ:HASH", as Verify's --checkpoint flag takes it.
func ParseCheckpointRef(s string) (CheckpointRef, error) {
	seqText, hash, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq <= 0 || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return CheckpointRef{}, fmt.Errorf("checkpoint %q: want SEQ:HASH, a positive sequence number and 64 lower-case hex digits", s)
	}
	return CheckpointRef{Seq: seq, Hash: hash}, nil
}

// Report is what Verify found.
type Report struct {
	Head Head
	// Records is how many records were checked; First and Last their
	// sequence numbers (0 when none).
	Records     int64
	First, Last int64
	// Checkpoints counts checkpoint records whose MAC verified;
	// UnverifiedCheckpoints those under a key the keyring no longer holds.
	Checkpoints, UnverifiedCheckpoints int
	// LastCheckpoint is the newest checkpoint whose MAC verified (0:
	// none). In an export, which has no head, records after it are
	// authenticated by nothing but their chain.
	LastCheckpoint int64
	// Problem is the first break found; nil when the chain is intact.
	Problem *Problem
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Checkpoint, when set, must be in the chain: it is how a truncated
	// tail (records deleted after it, the head moved back) is found.
	Checkpoint *CheckpointRef
}

// Verify checks the stored chain from its anchor to its head, reading one
// snapshot, and reports the first record at which it breaks. An error is
// returned only when the check could not be made (the store failed); a
// broken chain is Report.Problem.
func (s *Store) Verify(ctx context.Context, o VerifyOptions) (Report, error) {
	var rep Report
	err := s.Scan(ctx, func(h Head, rows func(func(Row) error) error) error {
		v := newVerifier(s.keys, h, o)
		err := rows(v.feed)
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
		rep = v.finish()
		return nil
	})
	return rep, err
}

// errStop ends a scan once a problem is found.
var errStop = errors.New("stop")

// verifier checks rows one at a time, holding one row back: whether a
// row whose seq disagrees with its contents was inserted, reordered or
// renumbered after a deletion is told by the row after it.
type verifier struct {
	keys    Keys
	opts    VerifyOptions
	rep     Report
	expSeq  int64
	expPrev string
	held    *checked // the row read but not judged yet
	sawRef  bool
	// unheaded: checking an export, which has no head or indexed columns.
	unheaded bool
}

// checked is a row with its decoded record (or why it did not decode).
type checked struct {
	row Row
	rec Record
	bad error
}

func newVerifier(keys Keys, h Head, o VerifyOptions) *verifier {
	return &verifier{keys: keys, opts: o, rep: Report{Head: h}, expSeq: h.AnchorSeq, expPrev: h.AnchorPrev}
}

func (v *verifier) feed(r Row) error {
	c := &checked{row: r}
	c.rec, c.bad = decode(r.Record)
	if v.held != nil {
		if p := v.judge(v.held, c); p != nil {
			v.rep.Problem = p
			return errStop
		}
	}
	v.held = c
	return nil
}

// judge checks c, the row at the chain's expected position, given the row
// after it (nil at the end).
func (v *verifier) judge(c, next *checked) *Problem {
	r, rec := c.row, c.rec
	switch {
	case r.Seq < v.expSeq:
		return &Problem{Seq: r.Seq, Fault: FaultAltered, Detail: fmt.Sprintf("it comes before the first record the head says is kept (%d): the head was changed", v.expSeq)}
	case r.Seq > v.expSeq:
		return &Problem{Seq: v.expSeq, Fault: FaultDeleted, Detail: missing(v.expSeq, r.Seq-1)}
	case c.bad != nil:
		return &Problem{Seq: r.Seq, Fault: FaultAltered, Detail: "its contents are not a valid record: " + c.bad.Error()}
	case HashOf(r.Record) != r.Hash:
		return &Problem{Seq: r.Seq, Fault: FaultAltered, Detail: "its contents do not match its stored hash"}
	}
	nextSeq := int64(-1) // the seq the next row's contents claim
	if next != nil && next.bad == nil {
		nextSeq = next.rec.Seq
	}
	switch {
	case rec.Seq == r.Seq+1 && nextSeq == r.Seq:
		return &Problem{Seq: r.Seq, Fault: FaultReordered, Detail: fmt.Sprintf("records %d and %d are in each other's place", r.Seq, r.Seq+1)}
	case rec.Seq < r.Seq:
		return &Problem{Seq: r.Seq - 1, Fault: FaultInserted, Detail: fmt.Sprintf("record %d was renumbered %d: the record before it is not part of the chain", rec.Seq, r.Seq)}
	case rec.Seq > r.Seq:
		return &Problem{Seq: r.Seq, Fault: FaultDeleted, Detail: fmt.Sprintf("record %d was renumbered %d: %s", rec.Seq, r.Seq, missing(r.Seq, rec.Seq-1))}
	case rec.Prev != v.expPrev && nextSeq == r.Seq:
		return &Problem{Seq: r.Seq, Fault: FaultInserted, Detail: "it does not chain from the record before it, and the record after it claims its number"}
	case rec.Prev != v.expPrev && r.Seq == v.rep.Head.AnchorSeq:
		return &Problem{Seq: r.Seq, Fault: FaultAltered, Detail: "it does not chain from the hash the kept log starts from (the anchor)"}
	case rec.Prev != v.expPrev:
		return &Problem{Seq: r.Seq - 1, Fault: FaultAltered, Detail: fmt.Sprintf("record %d does not chain from it: it was changed and its hash recomputed", r.Seq)}
	case string(rec.Kind) != r.Kind || rec.Client != r.Client || rec.Provider != r.Provider ||
		!r.At.Truncate(time.Microsecond).Equal(rec.Time.UTC().Truncate(time.Microsecond)):
		// PostgreSQL keeps microseconds; the record's time has more.
		return &Problem{Seq: r.Seq, Fault: FaultAltered, Detail: "its indexed columns (time, kind, client, provider) disagree with its contents"}
	}
	if rec.Kind == KindCheckpoint {
		switch ok, known := checkMAC(v.keys, checkpointMessage(rec.Seq, rec.Prev), rec.MAC); {
		case !known:
			v.rep.UnverifiedCheckpoints++
		case !ok:
			return &Problem{Seq: r.Seq, Fault: FaultAltered, Detail: "this checkpoint's MAC does not verify: the chain up to it was rewritten"}
		default:
			v.rep.Checkpoints++
			v.rep.LastCheckpoint = r.Seq
		}
	}
	if ref := v.opts.Checkpoint; ref != nil && ref.Seq == r.Seq {
		v.sawRef = true
		if ref.Hash != r.Hash {
			return &Problem{Seq: r.Seq, Fault: FaultAltered, Detail: "it is not the record the kept checkpoint names (its hash differs): the chain was rewritten"}
		}
	}
	if v.rep.Records == 0 {
		v.rep.First = r.Seq
	}
	v.rep.Records++
	v.rep.Last = r.Seq
	v.expSeq, v.expPrev = r.Seq+1, r.Hash
	return nil
}

// checkHead authenticates the head: its MAC covers the chain's end and
// its anchor, so a chain rewritten with recomputed hashes, a tail cut off
// with the head moved back, or a prefix deleted with the anchor moved all
// show here without the key. Only a fresh log (nothing ever appended) has
// no MAC. A replayed older head is a cut-off tail: the kept checkpoint
// finds it.
func (v *verifier) checkHead(last int64) *Problem {
	h := v.rep.Head
	if v.unheaded {
		return nil // an export has no head of its own
	}
	if h.MAC == "" {
		if h.Seq == 0 && h.AnchorSeq == 1 && h.AnchorPrev == GenesisHash && v.rep.Records == 0 {
			return nil
		}
		return &Problem{Seq: max(h.Seq, last), Fault: FaultAltered, Detail: "the head has no MAC: it was written outside the log writer"}
	}
	switch ok, known := checkMAC(v.keys, headMessage(h), h.MAC); {
	case !known:
		return &Problem{Seq: h.Seq, Fault: FaultAltered, Detail: "the head's MAC names a key not in encryption.keys (every append re-MACs it under the first key: restore the key, or let a gateway append once)"}
	case !ok:
		return &Problem{Seq: h.Seq, Fault: FaultAltered, Detail: "the head's MAC does not verify: the chain's end or its first kept record was changed without the data-at-rest key"}
	}
	return nil
}

func missing(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record %d is missing", from)
	}
	return fmt.Sprintf("records %d to %d are missing", from, to)
}

// finish judges the last row and compares the end of the chain with the
// head and the kept checkpoint.
func (v *verifier) finish() Report {
	if v.rep.Problem == nil && v.held != nil {
		v.rep.Problem = v.judge(v.held, nil)
	}
	if v.rep.Problem != nil {
		return v.rep
	}
	h := v.rep.Head
	last := v.expSeq - 1
	// Missing tails first (the most precise report), then the head's MAC,
	// then whether the rows end where the head says.
	if h.Seq > last {
		v.rep.Problem = &Problem{Seq: last + 1, Fault: FaultTruncated,
			Detail: fmt.Sprintf("the head names record %d but the log ends at record %d", h.Seq, last)}
		return v.rep
	}
	if ref := v.opts.Checkpoint; ref != nil && !v.sawRef {
		if ref.Seq > last {
			v.rep.Problem = &Problem{Seq: last + 1, Fault: FaultTruncated,
				Detail: fmt.Sprintf("the kept checkpoint names record %d but the log ends at record %d: its tail was cut off", ref.Seq, last)}
			return v.rep
		}
		// Before the anchor: retention deleted it (or someone did, and
		// moved the anchor: the head's MAC tells).
		if p := v.checkHead(last); p != nil {
			v.rep.Problem = p
			return v.rep
		}
		v.rep.Problem = &Problem{Seq: ref.Seq, Fault: FaultDeleted,
			Detail: fmt.Sprintf("the kept checkpoint names record %d, before the first record kept (%d); retention may have deleted it: keep a newer checkpoint", ref.Seq, h.AnchorSeq)}
		return v.rep
	}
	if p := v.checkHead(last); p != nil {
		v.rep.Problem = p
		return v.rep
	}
	switch {
	case h.Seq < last:
		v.rep.Problem = &Problem{Seq: h.Seq + 1, Fault: FaultInserted,
			Detail: fmt.Sprintf("records after the head (record %d) were added outside the log writer", h.Seq)}
	case last >= h.AnchorSeq && v.expPrev != h.Hash:
		v.rep.Problem = &Problem{Seq: last, Fault: FaultAltered, Detail: "the last record's hash differs from the head's"}
	}
	return v.rep
}
