package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/intelgate/intelgate/internal/store"
)

// maxLine bounds one JSON Lines record when reading an export back: far
// above any record the gateway writes (a few hundred bytes).
const maxLine = 1 << 20

// Export writes the records f selects as JSON Lines, in sequence order,
// from one snapshot: each line is the record's canonical encoding with its
// "hash" added, so the chain fields travel with it and a SIEM can recheck
// every hash (VerifyJSONL). It returns how many records it wrote.
func (s *Store) Export(ctx context.Context, w io.Writer, f Filter) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var n int64
	err := s.db.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		where, args := f.where(s.d)
		rows, err := tx.QueryContext(ctx, s.d.Rebind("SELECT record, hash FROM audit_records"+where+" ORDER BY seq"), args...)
		if err != nil {
			return fmt.Errorf("reading audit records: %w", err)
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var rec, hash string
			if err := rows.Scan(&rec, &hash); err != nil {
				return fmt.Errorf("reading audit records: %w", err)
			}
			if r, err := decode([]byte(rec)); err == nil && !f.matches(r) {
				continue // its indexed columns lie: verify reports it
			}
			if err := writeLine(bw, rec, hash); err != nil {
				return fmt.Errorf("writing export: %w", err)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading audit records: %w", err)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("writing export: %w", err)
	}
	return n, nil
}

// writeLine writes a stored record with its hash. The canonical encoding
// is an object whose last field precedes "hash" in Record's order, so the
// line is what encoding Record with Hash set gives.
func writeLine(w *bufio.Writer, rec, hash string) error {
	if len(rec) < 2 || rec[len(rec)-1] != '}' {
		return errors.New("stored record is not a JSON object")
	}
	_, _ = w.WriteString(rec[:len(rec)-1])
	_, _ = w.WriteString(`,"hash":`)
	h, _ := json.Marshal(hash)
	_, _ = w.Write(h)
	_, err := w.WriteString("}\n")
	return err
}

// VerifyJSONL checks an unfiltered export (a whole log, or a --since/--until
// range of it) on its own: every line's hash, every link from the line
// before, and every checkpoint's MAC when keys holds its key. Each line
// must be exactly what Export writes — the canonical encoding followed by
// its hash — so a line that a JSON reader would read differently from
// this one (repeated or differently cased keys, trailing data, escapes
// spelt another way) is altered, not reinterpreted. The first line's prev
// is taken on trust: an export starts wherever it was cut (the report's
// First and Head.AnchorPrev say where).
func VerifyJSONL(r io.Reader, keys Keys) (Report, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var v *verifier
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		rec, err := decode(b)
		if err != nil {
			seq := int64(0)
			if v != nil {
				seq = v.expSeq
				if v.held != nil {
					seq = v.held.row.Seq + 1
				}
			}
			return Report{Problem: &Problem{Seq: seq, Fault: FaultAltered,
				Detail: fmt.Sprintf("line %d is not an audit record: %v", line, err)}}, nil
		}
		canonical, err := rec.Canonical()
		if err != nil {
			return Report{}, fmt.Errorf("line %d: %w", line, err)
		}
		if v == nil {
			v = newVerifier(keys, Head{AnchorSeq: rec.Seq, AnchorPrev: rec.Prev}, VerifyOptions{})
			v.unheaded = true
		}
		var want bytes.Buffer
		bw := bufio.NewWriter(&want)
		_ = writeLine(bw, string(canonical), rec.Hash)
		_ = bw.Flush()
		if !bytes.Equal(append(slices.Clone(b), '\n'), want.Bytes()) {
			v.rep.Problem = &Problem{Seq: rec.Seq, Fault: FaultAltered,
				Detail: fmt.Sprintf("line %d is not in the form the export writes (a JSON reader could read it otherwise)", line)}
			break
		}
		if err := v.feed(Row{Seq: rec.Seq, At: rec.Time, Kind: string(rec.Kind), Client: rec.Client, Provider: rec.Provider,
			Record: canonical, Hash: rec.Hash}); err != nil {
			break // errStop: a problem is recorded
		}
	}
	if err := sc.Err(); err != nil {
		return Report{}, fmt.Errorf("reading export: %w", err)
	}
	if v == nil {
		return Report{}, nil
	}
	if v.rep.Problem != nil {
		return v.rep, nil
	}
	if v.held != nil {
		// The export has no head of its own: its last line is its end.
		v.rep.Head.Seq, v.rep.Head.Hash = v.held.row.Seq, v.held.row.Hash
	}
	return v.finish(), nil
}
