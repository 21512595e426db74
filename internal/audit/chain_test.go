package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/audit"
	"github.com/intelgate/intelgate/internal/seal"
	"github.com/intelgate/intelgate/internal/store"
	"github.com/intelgate/intelgate/internal/store/sqlite"
)

// backend opens an empty durable store of one kind.
type backend struct {
	name string
	open func(t testing.TB) store.Store
}

// backends are the stores the audit log runs on; PostgreSQL is added by
// postgres_test.go when its test server is configured.
var backends = []backend{{name: "sqlite", open: openSQLite}}

func openSQLite(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func testKeys(t testing.TB, ids ...string) *seal.Keyring {
	t.Helper()
	if len(ids) == 0 {
		ids = []string{"k1"}
	}
	var keys []seal.Key
	for _, id := range ids {
		keys = append(keys, seal.Key{ID: id, Secret: []byte("a test secret of 32 bytes for " + id + "!")})
	}
	kr, err := seal.NewKeyring(keys)
	require.NoError(t, err)
	return kr
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// seed appends n records, a checkpoint every fifth, one per minute from
// t0, and returns them as appended (chain fields set).
func seed(t *testing.T, as *audit.Store, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for i := range n {
		r := audit.Record{Time: t0.Add(time.Duration(i) * time.Minute), Kind: audit.KindProviderResult,
			Client: fmt.Sprintf("client-%d", i%3), Provider: "socialeye", KeyID: "prod-1", Outcome: "ok", Units: 1}
		if i%5 == 4 {
			r = audit.Record{Time: r.Time, Kind: audit.KindCheckpoint}
		}
		recs = append(recs, r)
	}
	// Several appends, as the writer batches them.
	for i := 0; i < n; i += 7 {
		batch := recs[i:min(i+7, n)]
		require.NoError(t, as.Append(t.Context(), batch))
	}
	return recs
}

// exec runs a tampering statement on the store, as someone with write
// access to the database would.
func exec(t *testing.T, st store.Store, query string, args ...any) {
	t.Helper()
	require.NoError(t, st.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ExecContext(ctx, st.Dialect().Rebind(query), args...)
		return err
	}))
}

func rowOf(t *testing.T, st store.Store, seq int64) (rec, hash, kind, client, provider string) {
	t.Helper()
	require.NoError(t, st.ReadTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		return tx.QueryRowContext(ctx, st.Dialect().Rebind("SELECT record, hash, kind, client, provider FROM audit_records WHERE seq = ?"), seq).
			Scan(&rec, &hash, &kind, &client, &provider)
	}))
	return
}

// reforge rewrites record seq's contents with edit and recomputes its
// hash, as a tamperer who knows the format would.
func reforge(t *testing.T, st store.Store, seq int64, edit func(*audit.Record)) {
	t.Helper()
	rec, _, _, _, _ := rowOf(t, st, seq)
	var r audit.Record
	require.NoError(t, json.Unmarshal([]byte(rec), &r))
	edit(&r)
	b, err := r.Canonical()
	require.NoError(t, err)
	exec(t, st, "UPDATE audit_records SET record = ?, hash = ?, client = ?, kind = ?, provider = ? WHERE seq = ?",
		string(b), audit.HashOf(b), r.Client, string(r.Kind), r.Provider, seq)
}

// restoreHead puts back the head as it was after record seq (an old
// backup of the row: its MAC was valid then).
func restoreHead(t *testing.T, st store.Store, seq int64, hash string) {
	t.Helper()
	// Re-derive that row as the log writer made it: append onto a copy of
	// the chain up to seq, under the same key, and take its head.
	scratch := openSQLite(t)
	as := audit.NewStore(scratch, testKeys(t))
	recs := seed(t, as, int(seq))
	require.Equal(t, hash, recs[seq-1].Hash, "the same records chain to the same hashes")
	h, err := as.Head(t.Context())
	require.NoError(t, err)
	exec(t, st, "UPDATE audit_head SET seq = ?, hash = ?, anchor_seq = ?, anchor_prev = ?, mac = ?", h.Seq, h.Hash, h.AnchorSeq, h.AnchorPrev, h.MAC)
}

// rewriteFrom renumbers every row from seq on and relinks it from prev,
// recomputing hashes, and moves the head: a full rewrite by someone
// without the key.
func rewriteFrom(t *testing.T, st store.Store, seq int64, prev string) {
	t.Helper()
	var rows []string
	require.NoError(t, st.ReadTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		r, err := tx.QueryContext(ctx, st.Dialect().Rebind("SELECT record FROM audit_records WHERE seq >= ? ORDER BY seq"), seq)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var rec string
			if err := r.Scan(&rec); err != nil {
				return err
			}
			rows = append(rows, rec)
		}
		return r.Err()
	}))
	exec(t, st, "DELETE FROM audit_records WHERE seq >= ?", seq)
	for i, rec := range rows {
		var r audit.Record
		require.NoError(t, json.Unmarshal([]byte(rec), &r))
		r.Seq, r.Prev = seq+int64(i), prev
		b, err := r.Canonical()
		require.NoError(t, err)
		prev = audit.HashOf(b)
		exec(t, st, "INSERT INTO audit_records (seq, at, kind, client, provider, record, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
			r.Seq, st.Dialect().TimeArg(r.Time), string(r.Kind), r.Client, r.Provider, string(b), prev)
	}
	exec(t, st, "UPDATE audit_head SET seq = ?, hash = ?", seq+int64(len(rows))-1, prev)
}

func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func(t *testing.T, st store.Store, recs []audit.Record)
		ref    func(recs []audit.Record) *audit.CheckpointRef
		seq    int64
		fault  audit.Fault
	}{
		{name: "intact", fault: ""},
		{name: "edited row", seq: 7, fault: audit.FaultAltered, tamper: func(t *testing.T, st store.Store, _ []audit.Record) {
			rec, _, _, _, _ := rowOf(t, st, 7)
			exec(t, st, "UPDATE audit_records SET record = ? WHERE seq = 7", strings.Replace(rec, `"units":1`, `"units":0`, 1))
		}},
		{name: "edited row with its hash recomputed", seq: 7, fault: audit.FaultAltered, tamper: func(t *testing.T, st store.Store, _ []audit.Record) {
			reforge(t, st, 7, func(r *audit.Record) { r.Client = "someone-else" })
		}},
		{name: "edited indexed column", seq: 8, fault: audit.FaultAltered, tamper: func(t *testing.T, st store.Store, _ []audit.Record) {
			exec(t, st, "UPDATE audit_records SET client = 'someone-else' WHERE seq = 8")
		}},
		{name: "deleted row", seq: 7, fault: audit.FaultDeleted, tamper: func(t *testing.T, st store.Store, _ []audit.Record) {
			exec(t, st, "DELETE FROM audit_records WHERE seq = 7")
		}},
		{name: "deleted first row", seq: 1, fault: audit.FaultDeleted, tamper: func(t *testing.T, st store.Store, _ []audit.Record) {
			exec(t, st, "DELETE FROM audit_records WHERE seq = 1")
		}},
		{name: "inserted row", seq: 8, fault: audit.FaultInserted, tamper: func(t *testing.T, st store.Store, recs []audit.Record) {
			// Make room after record 7 (from the top, so no number is
			// taken twice), then forge a well-formed record there that
			// chains from record 7.
			for seq := int64(len(recs)); seq >= 8; seq-- {
				exec(t, st, "UPDATE audit_records SET seq = ? WHERE seq = ?", seq+1, seq)
			}
			forged := audit.Record{Seq: 8, Time: t0, Kind: audit.KindProviderResult, Client: "client-0",
				Provider: "socialeye", Outcome: "ok", Prev: recs[6].Hash}
			b, err := forged.Canonical()
			require.NoError(t, err)
			exec(t, st, "INSERT INTO audit_records (seq, at, kind, client, provider, record, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
				8, st.Dialect().TimeArg(t0), string(forged.Kind), forged.Client, forged.Provider, string(b), audit.HashOf(b))
			exec(t, st, "UPDATE audit_head SET seq = seq + 1")
		}},
		{name: "reordered pair", seq: 7, fault: audit.FaultReordered, tamper: func(t *testing.T, st store.Store, _ []audit.Record) {
			a, ah, ak, ac, ap := rowOf(t, st, 7)
			b, bh, bk, bc, bp := rowOf(t, st, 8)
			exec(t, st, "UPDATE audit_records SET record = ?, hash = ?, kind = ?, client = ?, provider = ? WHERE seq = 7", b, bh, bk, bc, bp)
			exec(t, st, "UPDATE audit_records SET record = ?, hash = ?, kind = ?, client = ?, provider = ? WHERE seq = 8", a, ah, ak, ac, ap)
		}},
		{name: "truncated tail, head left behind", seq: 16, fault: audit.FaultTruncated, tamper: func(t *testing.T, st store.Store, _ []audit.Record) {
			exec(t, st, "DELETE FROM audit_records WHERE seq > 15")
		}},
		{name: "truncated tail against a kept checkpoint", seq: 16, fault: audit.FaultTruncated,
			ref: func(recs []audit.Record) *audit.CheckpointRef {
				return &audit.CheckpointRef{Seq: 20, Hash: recs[19].Hash}
			},
			tamper: func(t *testing.T, st store.Store, recs []audit.Record) {
				exec(t, st, "DELETE FROM audit_records WHERE seq > 15")
				exec(t, st, "UPDATE audit_head SET seq = 15, hash = ?", recs[14].Hash)
			}},
		{name: "tail cut off and the head moved back, without the key", seq: 15, fault: audit.FaultAltered,
			tamper: func(t *testing.T, st store.Store, recs []audit.Record) {
				exec(t, st, "DELETE FROM audit_records WHERE seq > 15")
				exec(t, st, "UPDATE audit_head SET seq = 15, hash = ?", recs[14].Hash)
			}},
		{name: "tail cut off and an older head replayed, against a kept checkpoint", seq: 15, fault: audit.FaultTruncated,
			ref: func(recs []audit.Record) *audit.CheckpointRef {
				return &audit.CheckpointRef{Seq: 20, Hash: recs[19].Hash}
			},
			tamper: func(t *testing.T, st store.Store, recs []audit.Record) {
				// The head as it was after record 14 (a backup): a valid
				// MAC, so only the kept checkpoint shows the cut.
				exec(t, st, "DELETE FROM audit_records WHERE seq > 14")
				restoreHead(t, st, 14, recs[13].Hash)
			}},
		{name: "oldest records deleted and the anchor moved, without the key", seq: 20, fault: audit.FaultAltered,
			tamper: func(t *testing.T, st store.Store, recs []audit.Record) {
				exec(t, st, "DELETE FROM audit_records WHERE seq <= 12")
				exec(t, st, "UPDATE audit_head SET anchor_seq = 13, anchor_prev = ?", recs[11].Hash)
			}},
		{name: "checkpoints removed and the chain rewritten, without the key", seq: 16, fault: audit.FaultAltered,
			tamper: func(t *testing.T, st store.Store, recs []audit.Record) {
				exec(t, st, "DELETE FROM audit_records WHERE kind = 'checkpoint'")
				rewriteFrom(t, st, 1, audit.GenesisHash)
			}},
		{name: "a backdated time column", seq: 7, fault: audit.FaultAltered, tamper: func(t *testing.T, st store.Store, _ []audit.Record) {
			exec(t, st, "UPDATE audit_records SET at = ? WHERE seq = 7", st.Dialect().TimeArg(t0.AddDate(-2, 0, 0)))
		}},
		{name: "records before the anchor", seq: 1, fault: audit.FaultAltered, tamper: func(t *testing.T, st store.Store, recs []audit.Record) {
			exec(t, st, "UPDATE audit_head SET anchor_seq = 5, anchor_prev = ?", recs[3].Hash)
		}},
		{name: "chain rewritten after a record, caught by the next checkpoint", seq: 10, fault: audit.FaultAltered,
			tamper: func(t *testing.T, st store.Store, recs []audit.Record) {
				// Edit record 7 and recompute every later hash and prev:
				// the chain is self-consistent again, but the checkpoint
				// at 10 MACs the old hash of record 9.
				reforge(t, st, 7, func(r *audit.Record) { r.Client = "someone-else" })
				for seq := int64(8); seq <= int64(len(recs)); seq++ {
					_, prevHash, _, _, _ := rowOf(t, st, seq-1)
					reforge(t, st, seq, func(r *audit.Record) { r.Prev = prevHash })
				}
				_, last, _, _, _ := rowOf(t, st, int64(len(recs)))
				exec(t, st, "UPDATE audit_head SET hash = ?", last)
			}},
	}
	for _, b := range backends {
		for _, tc := range cases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				st := b.open(t)
				as := audit.NewStore(st, testKeys(t))
				recs := seed(t, as, 20)
				if tc.tamper != nil {
					tc.tamper(t, st, recs)
				}
				var o audit.VerifyOptions
				if tc.ref != nil {
					o.Checkpoint = tc.ref(recs)
				}
				rep, err := as.Verify(t.Context(), o)
				require.NoError(t, err)
				if tc.fault == "" {
					require.Nil(t, rep.Problem)
					require.EqualValues(t, 20, rep.Records)
					require.Equal(t, 4, rep.Checkpoints)
					return
				}
				require.NotNil(t, rep.Problem, "tampering went unnoticed")
				require.Equal(t, tc.fault, rep.Problem.Fault, rep.Problem.Error())
				require.Equal(t, tc.seq, rep.Problem.Seq, rep.Problem.Error())
			})
		}
	}
}

// A checkpoint kept from the log of an intact chain verifies; one with
// another hash does not.
func TestVerifyKeptCheckpoint(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			as := audit.NewStore(b.open(t), testKeys(t))
			recs := seed(t, as, 10)
			rep, err := as.Verify(t.Context(), audit.VerifyOptions{Checkpoint: &audit.CheckpointRef{Seq: 5, Hash: recs[4].Hash}})
			require.NoError(t, err)
			require.Nil(t, rep.Problem)
			rep, err = as.Verify(t.Context(), audit.VerifyOptions{Checkpoint: &audit.CheckpointRef{Seq: 5, Hash: recs[3].Hash}})
			require.NoError(t, err)
			require.NotNil(t, rep.Problem)
			require.Equal(t, int64(5), rep.Problem.Seq)
		})
	}
}

// A checkpoint MAC'd under a key the keyring no longer holds is counted
// as unverified, not as tampering: keys rotate. The head is MAC'd anew by
// every append, so it must verify: under a removed key it is refused
// until a gateway has appended once under the new one.
func TestVerifyAfterKeyRotation(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	seed(t, audit.NewStore(st, testKeys(t, "old")), 10)
	rep, err := audit.NewStore(st, testKeys(t, "new", "old")).Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.Equal(t, 2, rep.Checkpoints)

	onlyNew := audit.NewStore(st, testKeys(t, "new"))
	rep, err = onlyNew.Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.NotNil(t, rep.Problem, "a head under a key no longer held is not taken on trust")
	require.Contains(t, rep.Problem.Detail, "not in encryption.keys")

	require.ErrorIs(t, onlyNew.Append(t.Context(), []audit.Record{{Time: t0, Kind: audit.KindAdmin}}), audit.ErrHeadUnverified,
		"nor does a writer sign it on trust")

	// The rotation as documented: the new key first, the old one still
	// listed, until a writer has appended once; then the old can go.
	require.NoError(t, audit.NewStore(st, testKeys(t, "new", "old")).Append(t.Context(), []audit.Record{{Time: t0, Kind: audit.KindAdmin}}))
	rep, err = onlyNew.Verify(t.Context(), audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, rep.Problem)
	require.Equal(t, 2, rep.UnverifiedCheckpoints)
}

// Writers never sign a head they cannot verify: a tampered head stays
// unverifiable, whatever appends or sweeps come after (otherwise the next
// batch would launder a cut-off tail or a rewritten chain).
func TestWritersRefuseAnUnverifiedHead(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st := b.open(t)
			as := audit.NewStore(st, testKeys(t))
			recs := seed(t, as, 20)
			exec(t, st, "DELETE FROM audit_records WHERE seq > 15")
			exec(t, st, "UPDATE audit_head SET seq = 15, hash = ?", recs[14].Hash)
			require.ErrorIs(t, as.Append(t.Context(), []audit.Record{{Time: t0, Kind: audit.KindAdmin}}), audit.ErrHeadUnverified)
			_, _, err := as.Sweep(t.Context(), t0.Add(time.Hour), 100)
			require.ErrorIs(t, err, audit.ErrHeadUnverified)
			rep, err := as.Verify(t.Context(), audit.VerifyOptions{})
			require.NoError(t, err)
			require.NotNil(t, rep.Problem)
		})
	}
}

func TestParseCheckpointRef(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("ab", 32)
	ref, err := audit.ParseCheckpointRef("42:" + h)
	require.NoError(t, err)
	require.Equal(t, audit.CheckpointRef{Seq: 42, Hash: h}, ref)
	for _, bad := range []string{"", "42", "42:", ":" + h, "0:" + h, "-1:" + h, "x:" + h, "42:" + h[:63], "42:" + strings.ToUpper(h)} {
		_, err := audit.ParseCheckpointRef(bad)
		require.Error(t, err, bad)
	}
}

// The export carries every record with its chain fields; decoded and
// re-encoded, each line gives back the stored bytes, and the file verifies
// on its own — until a line is changed.
func TestExportRoundTrips(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st := b.open(t)
			keys := testKeys(t)
			as := audit.NewStore(st, keys)
			recs := seed(t, as, 12)
			var buf bytes.Buffer
			n, err := as.Export(t.Context(), &buf, audit.Filter{})
			require.NoError(t, err)
			require.EqualValues(t, 12, n)
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			require.Len(t, lines, 12)
			for i, line := range lines {
				var r audit.Record
				require.NoError(t, json.Unmarshal([]byte(line), &r))
				require.Equal(t, recs[i].Hash, r.Hash)
				require.Equal(t, int64(i+1), r.Seq)
				stored, _, _, _, _ := rowOf(t, st, r.Seq)
				canonical, err := r.Canonical()
				require.NoError(t, err)
				require.Equal(t, stored, string(canonical))
				require.Equal(t, r.Hash, audit.HashOf(canonical))
			}
			rep, err := audit.VerifyJSONL(strings.NewReader(buf.String()), keys)
			require.NoError(t, err)
			require.Nil(t, rep.Problem)
			require.EqualValues(t, 12, rep.Records)

			edited := strings.Replace(buf.String(), `"client":"client-2"`, `"client":"client-1"`, 1)
			rep, err = audit.VerifyJSONL(strings.NewReader(edited), keys)
			require.NoError(t, err)
			require.NotNil(t, rep.Problem)
			require.Equal(t, int64(3), rep.Problem.Seq)

			// Lines a JSON reader would read otherwise than the verifier
			// are altered, not reinterpreted.
			for name, edit := range map[string]func(string) string{
				"a second key in another case": func(l string) string {
					return strings.Replace(l, `"client":"client-1"`, `"client":"mallory","CLIENT":"client-1"`, 1)
				},
				"trailing data": func(l string) string { return l + `{"seq":99}` },
				"an escape spelt otherwise": func(l string) string {
					return strings.Replace(l, `"client":"client-1"`, `"client":"client\u002d1"`, 1)
				},
			} {
				edited := append(slices.Clone(lines), "")
				edited[1] = edit(edited[1]) // record 2, client-1

				rep, err = audit.VerifyJSONL(strings.NewReader(strings.Join(edited, "\n")), keys)
				require.NoError(t, err, name)
				require.NotNil(t, rep.Problem, name)
				require.Equal(t, int64(2), rep.Problem.Seq, name)
			}

			// A time range is a contiguous part of the chain and verifies
			// on its own.
			buf.Reset()
			n, err = as.Export(t.Context(), &buf, audit.Filter{Since: t0.Add(3 * time.Minute), Until: t0.Add(8 * time.Minute)})
			require.NoError(t, err)
			require.EqualValues(t, 5, n)
			rep, err = audit.VerifyJSONL(&buf, keys)
			require.NoError(t, err)
			require.Nil(t, rep.Problem)
		})
	}
}

// Sweep deletes exactly the records before the cut, in batches, only ever
// a prefix, and the kept part verifies from its new anchor.
func TestSweepKeepsTheChainVerifiable(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st := b.open(t)
			as := audit.NewStore(st, testKeys(t))
			seed(t, as, 20) // record i+1 at t0 + i minutes
			cut := t0.Add(12 * time.Minute)
			var total int64
			for {
				n, anchor, err := as.Sweep(t.Context(), cut, 5)
				require.NoError(t, err)
				require.LessOrEqual(t, n, int64(5))
				total += n
				if n < 5 {
					require.EqualValues(t, 13, anchor)
					break
				}
			}
			require.EqualValues(t, 12, total)
			rep, err := as.Verify(t.Context(), audit.VerifyOptions{})
			require.NoError(t, err)
			require.Nil(t, rep.Problem)
			require.EqualValues(t, 13, rep.First)
			require.EqualValues(t, 8, rep.Records)
			n, _, err := as.Sweep(t.Context(), cut, 5)
			require.NoError(t, err)
			require.Zero(t, n, "nothing more is due")

			// A record older than the cut behind a younger one waits: only
			// a prefix goes.
			late := []audit.Record{{Time: t0.Add(time.Hour), Kind: audit.KindAdmin}, {Time: t0, Kind: audit.KindAdmin}}
			require.NoError(t, as.Append(t.Context(), late))
			n, _, err = as.Sweep(t.Context(), t0.Add(30*time.Minute), 100)
			require.NoError(t, err)
			require.EqualValues(t, 8, n)
			rep, err = as.Verify(t.Context(), audit.VerifyOptions{})
			require.NoError(t, err)
			require.Nil(t, rep.Problem)
			require.EqualValues(t, 21, rep.First)

			// Everything due: the anchor moves past the head, and new
			// records still chain.
			n, anchor, err := as.Sweep(t.Context(), t0.Add(48*time.Hour), 100)
			require.NoError(t, err)
			require.EqualValues(t, 2, n)
			require.EqualValues(t, 23, anchor)
			require.NoError(t, as.Append(t.Context(), []audit.Record{{Time: t0, Kind: audit.KindAdmin}}))
			rep, err = as.Verify(t.Context(), audit.VerifyOptions{})
			require.NoError(t, err)
			require.Nil(t, rep.Problem)
			require.EqualValues(t, 1, rep.Records)

			_, _, err = as.Sweep(t.Context(), cut, 0)
			require.Error(t, err)
		})
	}
}

// Page filters and pages with a cursor that never skips or repeats.
// pageAll reads every record f selects, limit per page, following the
// cursor as an API client would.
func pageAll(t *testing.T, as *audit.Store, f audit.Filter, limit int) []audit.Record {
	t.Helper()
	var out []audit.Record
	for {
		page, next, err := as.Page(t.Context(), f, limit)
		require.NoError(t, err)
		out = append(out, page...)
		if next == 0 {
			return out
		}
		f.After = next
	}
}

func seqs(recs []audit.Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return out
}

func TestPage(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st := b.open(t)
			as := audit.NewStore(st, testKeys(t))
			seed(t, as, 20)
			recs := pageAll(t, as, audit.Filter{Client: "client-1"}, 3)
			for _, r := range recs {
				require.Equal(t, "client-1", r.Client)
				require.Len(t, r.Hash, 64)
			}
			seen := seqs(recs)
			// client-1 is i%3 == 1 among non-checkpoints (i%5 != 4).
			var want []int64
			for i := range 20 {
				if i%3 == 1 && i%5 != 4 {
					want = append(want, int64(i+1))
				}
			}
			require.Equal(t, want, seen)
			// A row whose indexed client was edited to match is read and
			// skipped (its record says otherwise), and paging goes on past
			// it: no genuine record goes missing from a page.
			exec(t, st, "UPDATE audit_records SET client = 'client-1' WHERE seq = 3")
			require.Equal(t, want, seqs(pageAll(t, as, audit.Filter{Client: "client-1"}, 2)))
			page, _, err := as.Page(t.Context(), audit.Filter{Since: t0.Add(18 * time.Minute)}, 10)
			require.NoError(t, err)
			require.Len(t, page, 2)
			_, _, err = as.Page(t.Context(), audit.Filter{}, 0)
			require.Error(t, err)
		})
	}
}
