package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/lookup"
	"github.com/intelgate/intelgate/internal/minimise"
	"github.com/intelgate/intelgate/internal/store"
)

// Get returns client's job id with its counts; ErrNotFound when there is
// none, or it is another client's.
func (q *Queue) Get(ctx context.Context, client, id string) (Job, error) {
	j := Job{ID: id, Client: client}
	var sealedSpec []byte
	var created, finished any
	err := q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.QueryRowContext(ctx, q.d.Rebind(`SELECT spec, total, created_at, finished_at FROM jobs
			WHERE id = ? AND client = ?`), id, client).Scan(&sealedSpec, &j.Total, &created, &finished); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, q.d.Rebind(`SELECT state, count(*) FROM job_items WHERE job_id = ? GROUP BY state`), id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var state string
			var n int
			if err := rows.Scan(&state, &n); err != nil {
				return err
			}
			switch ItemState(state) {
			case ItemQueued:
				j.Counts.Queued = n
			case ItemDone:
				j.Counts.Done = n
			case ItemFailed:
				j.Counts.Failed = n
			case ItemDead:
				j.Counts.Dead = n
			case ItemWithheld:
				j.Counts.Withheld = n
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		cb, err := q.callbackOf(ctx, tx, id)
		if err != nil {
			return err
		}
		j.Callback = cb
		if j.Counts.Queued == 0 {
			return nil
		}
		return tx.QueryRowContext(ctx, q.d.Rebind(`SELECT count(*) FROM job_items i JOIN river_job r ON r.id = i.river_id
			WHERE i.job_id = ? AND i.state = 'queued' AND r.state = 'running'`), id).Scan(&j.Counts.Running)
	})
	if errors.Is(err, errNoRows) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, fmt.Errorf("reading job: %w", err)
	}
	b, _, err := q.o.Keyring.Open(specAD(id), sealedSpec)
	if err != nil {
		return Job{}, fmt.Errorf("opening job: %w", err)
	}
	var sp spec
	if err := json.Unmarshal(b, &sp); err != nil {
		return Job{}, fmt.Errorf("decoding job: %w", err)
	}
	j.Type, j.Providers, j.CallbackURL = sp.Type, sp.Providers, sp.CallbackURL
	j.Markings = minimise.Markings{TLP: minimise.TLP(sp.TLP), PAP: minimise.PAP(sp.PAP)}
	if j.Type == "" {
		j.Type = indicator.Auto
	}
	j.CreatedAt, j.FinishedAt = store.TimeOf(created), store.TimeOf(finished)
	switch {
	case !j.FinishedAt.IsZero():
		j.Status = StatusDone
	case j.Counts.Queued == j.Total:
		j.Status = StatusQueued
	default:
		j.Status = StatusRunning
	}
	return j, nil
}

// Page bounds of Results.
const (
	DefaultPageItems = 100
	MaxPageItems     = 1000
	// pageBytes stops a page early once its sealed results reach it, so
	// a page of large answers does not sit whole in memory.
	pageBytes = 8 << 20
)

// Results returns client's job's items after item number after, in order,
// at most limit of them (0: DefaultPageItems; capped at MaxPageItems, and
// shorter once the page holds pageBytes), and the item number to pass as
// after for the next page (0 when this page reached the last item).
func (q *Queue) Results(ctx context.Context, client, id string, after, limit int) ([]ItemResult, int, error) {
	if limit <= 0 {
		limit = DefaultPageItems
	}
	limit = min(limit, MaxPageItems)
	type raw struct {
		seq, attempts int
		state, kind   string
		ind, result   []byte
	}
	var page []raw
	more := false
	err := q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var owner string
		if err := tx.QueryRowContext(ctx, q.d.Rebind(`SELECT client FROM jobs WHERE id = ? AND client = ?`), id, client).Scan(&owner); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, q.d.Rebind(`SELECT seq, state, indicator, result, error, attempts FROM job_items
			WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`), id, after, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		size := 0
		for rows.Next() {
			if len(page) == limit || size >= pageBytes {
				more = true
				break
			}
			var r raw
			if err := rows.Scan(&r.seq, &r.state, &r.ind, &r.result, &r.kind, &r.attempts); err != nil {
				return err
			}
			size += len(r.result)
			page = append(page, r)
		}
		return rows.Err()
	})
	if errors.Is(err, errNoRows) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading job results: %w", err)
	}
	out := make([]ItemResult, 0, len(page))
	for _, r := range page {
		ir := ItemResult{Seq: r.seq, State: ItemState(r.state), Attempts: r.attempts}
		ind, _, err := q.o.Keyring.Open(indicatorAD(id, r.seq), r.ind)
		if err != nil {
			return nil, 0, fmt.Errorf("opening item %d: %w", r.seq, err)
		}
		ir.Indicator = string(ind)
		if r.result != nil {
			b, _, err := q.o.Keyring.Open(resultAD(id, r.seq), r.result)
			if err != nil {
				return nil, 0, fmt.Errorf("opening item %d: %w", r.seq, err)
			}
			var s stored
			if err := json.Unmarshal(b, &s); err != nil {
				return nil, 0, fmt.Errorf("decoding item %d: %w", r.seq, err)
			}
			ir.Type, ir.Normalized, ir.Failure = indicator.Type(s.Type), s.Normalized, s.Failure.failure()
			for _, o := range s.Outcomes {
				ir.Outcomes = append(ir.Outcomes, lookup.Outcome{Provider: o.Provider, Status: lookup.Status(o.Status),
					Cache: lookup.CacheState(o.Cache), Rule: o.Rule, FetchedAt: o.FetchedAt, Data: o.Data, Failure: o.Failure.failure()})
			}
		}
		out = append(out, ir)
	}
	next := 0
	if more && len(out) > 0 {
		next = out[len(out)-1].Seq
	}
	return out, next, nil
}

// Sweep deletes at most limit rows of jobs that finished before before
// (retention.job_results): their items first, then the jobs left without
// items, so that one batch never cascades into a whole 10,000-item job.
// It returns how many rows went. River deletes its own finished entries.
//
// On PostgreSQL a dead-letter retry may reopen a job while a sweep reads
// it: the sweep locks the jobs rows it deletes from (re-reading
// finished_at under the lock) and skips those a retry holds, and a retry
// locks its jobs before it touches their items (requeue), so an item
// just put back is never deleted under a job that no longer looks
// finished. SQLite has one writer, so there is nothing to interleave.
func (q *Queue) Sweep(ctx context.Context, before time.Time, limit int) (int64, error) {
	lockItems, lockJobs := "", ""
	if q.d == store.Postgres {
		lockItems, lockJobs = " FOR UPDATE OF j SKIP LOCKED", " FOR UPDATE SKIP LOCKED"
	}
	var n int64
	err := q.eng.write(ctx, func(ctx context.Context, tx execer, _ inserter) error {
		items, err := tx.exec(ctx, `DELETE FROM job_items WHERE (job_id, seq) IN (
			SELECT i.job_id, i.seq FROM jobs j JOIN job_items i ON i.job_id = j.id
			WHERE j.finished_at < ? ORDER BY j.finished_at LIMIT ?`+lockItems+`)`, q.d.TimeArg(before), limit)
		if err != nil {
			return fmt.Errorf("sweeping job items: %w", err)
		}
		n = items
		if items >= int64(limit) {
			return nil
		}
		jobsGone, err := tx.exec(ctx, `DELETE FROM jobs WHERE id IN (
			SELECT j.id FROM jobs j WHERE j.finished_at < ?
			AND NOT EXISTS (SELECT 1 FROM job_items i WHERE i.job_id = j.id) ORDER BY j.finished_at LIMIT ?`+lockJobs+`)`,
			q.d.TimeArg(before), int64(limit)-items)
		if err != nil {
			return fmt.Errorf("sweeping jobs: %w", err)
		}
		n += jobsGone
		return nil
	})
	return n, err
}

// JobGauges counts, for metrics, the unfinished jobs, the items they still
// wait for and the dead items: an index walk each (unfinished jobs are
// few; dead items have a partial index).
func (q *Queue) JobGauges(ctx context.Context) (unfinished, queued, dead int, err error) {
	err = q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(pending), 0) FROM jobs WHERE finished_at IS NULL`).
			Scan(&unfinished, &queued); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM job_items WHERE state = 'dead'`).Scan(&dead)
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("counting jobs: %w", err)
	}
	return unfinished, queued, dead, nil
}
