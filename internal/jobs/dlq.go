package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/store"
)

// DeadItem is an item in the dead-letter queue: a transient failure that
// outlasted jobs.max_attempts. Its id is "<job>.<item>".
type DeadItem struct {
	ID       string
	Job      string
	Seq      int
	Client   string
	Provider string // the provider whose failure it was; "" for the item's own
	Error    string // the failure kind (a problem slug)
	Attempts int
	DiedAt   time.Time
}

// DeadFilter selects dead items; empty fields match all.
type DeadFilter struct {
	Provider, Error, Job, Client string
}

// ErrNoDeadItem: no dead item has that id (it was retried, or never died).
var ErrNoDeadItem = errors.New("no such dead item")

// DeadItemID is the id of job's item seq in the dead-letter queue.
func DeadItemID(job string, seq int) string { return job + "." + strconv.Itoa(seq) }

func parseDeadItemID(id string) (job string, seq int, ok bool) {
	job, n, found := strings.Cut(id, ".")
	if !found || !strings.HasPrefix(job, "job_") {
		return "", 0, false
	}
	seq, err := strconv.Atoi(n)
	return job, seq, err == nil && seq > 0
}

func (f DeadFilter) where(conds []string, args []any) ([]string, []any) {
	for _, c := range []struct{ col, v string }{{"i.provider", f.Provider}, {"i.error", f.Error}, {"i.job_id", f.Job}, {"j.client", f.Client}} {
		if c.v != "" {
			conds, args = append(conds, c.col+" = ?"), append(args, c.v)
		}
	}
	return conds, args
}

// Dead lists dead items matching f after the one with id after ("" from
// the start), in job and item order, at most limit (0: DefaultPageItems,
// capped at MaxPageItems); next is the id to pass as after for the next
// page, "" after the last.
func (q *Queue) Dead(ctx context.Context, f DeadFilter, after string, limit int) (items []DeadItem, next string, err error) {
	if limit <= 0 {
		limit = DefaultPageItems
	}
	limit = min(limit, MaxPageItems)
	conds, args := f.where([]string{"i.state = 'dead'"}, nil)
	if after != "" {
		job, seq, ok := parseDeadItemID(after)
		if !ok {
			return nil, "", fmt.Errorf("after: %w", ErrNoDeadItem)
		}
		conds, args = append(conds, "(i.job_id > ? OR (i.job_id = ? AND i.seq > ?))"), append(args, job, job, seq)
	}
	args = append(args, limit+1)
	err = q.o.Store.ReadTx(ctx, func(ctx context.Context, tx store.Tx) error {
		rows, err := tx.QueryContext(ctx, q.d.Rebind(`SELECT i.job_id, i.seq, j.client, i.provider, i.error, i.attempts, i.updated_at
			FROM job_items i JOIN jobs j ON j.id = i.job_id WHERE `+strings.Join(conds, " AND ")+`
			ORDER BY i.job_id, i.seq LIMIT ?`), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d DeadItem
			var at any
			if err := rows.Scan(&d.Job, &d.Seq, &d.Client, &d.Provider, &d.Error, &d.Attempts, &at); err != nil {
				return err
			}
			d.ID, d.DiedAt = DeadItemID(d.Job, d.Seq), store.TimeOf(at)
			items = append(items, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", fmt.Errorf("reading the dead-letter queue: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		next = items[limit-1].ID
	}
	return items, next, nil
}

// Retry puts the dead item id back in the queue, as a fresh item (its
// attempts start again); its job is running again until it finishes, and
// then announces that finish by callback again.
func (q *Queue) Retry(ctx context.Context, id string) error {
	job, seq, ok := parseDeadItemID(id)
	if !ok {
		return ErrNoDeadItem
	}
	n, err := q.requeue(ctx, []itemArgs{{Job: job, Seq: seq}})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNoDeadItem
	}
	return nil
}

// RetryAll puts back at most MaxPageItems dead items matching f and says
// how many, and whether more match (call again).
func (q *Queue) RetryAll(ctx context.Context, f DeadFilter) (retried int, more bool, err error) {
	items, next, err := q.Dead(ctx, f, "", MaxPageItems)
	if err != nil {
		return 0, false, err
	}
	args := make([]itemArgs, len(items))
	for i, d := range items {
		args[i] = itemArgs{Job: d.Job, Seq: d.Seq}
	}
	n, err := q.requeue(ctx, args)
	return n, next != "", err
}

// requeue moves the items that are dead back to queued, each with a new
// River job, and reopens their jobs, in one transaction.
func (q *Queue) requeue(ctx context.Context, items []itemArgs) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	now := q.now()
	moved := 0
	err := q.eng.write(ctx, func(ctx context.Context, tx execer, insert inserter) error {
		if err := q.lockJobs(ctx, tx, items); err != nil {
			return err
		}
		var back []itemArgs
		for _, it := range items {
			n, err := tx.exec(ctx, `UPDATE job_items SET state = 'queued', result = NULL, error = '', provider = '', attempts = 0,
				updated_at = ? WHERE job_id = ? AND seq = ? AND state = 'dead'`, q.d.TimeArg(now), it.Job, it.Seq)
			if err != nil {
				return fmt.Errorf("requeueing item: %w", err)
			}
			if n == 1 {
				back = append(back, it)
			}
		}
		if len(back) == 0 {
			return nil
		}
		ids, err := insert(ctx, q.itemParams(back))
		if err != nil {
			return err
		}
		for i, it := range back {
			if _, err := tx.exec(ctx, `UPDATE job_items SET river_id = ? WHERE job_id = ? AND seq = ?`, ids[i], it.Job, it.Seq); err != nil {
				return fmt.Errorf("requeueing item: %w", err)
			}
			if _, err := tx.exec(ctx, `UPDATE jobs SET pending = pending + 1, finished_at = NULL WHERE id = ?`, it.Job); err != nil {
				return fmt.Errorf("reopening job: %w", err)
			}
		}
		moved = len(back)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("retrying dead items: %w", err)
	}
	return moved, nil
}

// lockJobs takes, on PostgreSQL, the row locks of the items' jobs, in id
// order, before their items are touched: the retention sweep locks the
// same rows first (Sweep), so the two take turns instead of the sweep
// deleting an item a retry has just put back, and neither can hold what
// the other waits for.
func (q *Queue) lockJobs(ctx context.Context, tx execer, items []itemArgs) error {
	if q.d != store.Postgres {
		return nil
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.Job)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		var got string
		err := tx.queryRow(ctx, `SELECT id FROM jobs WHERE id = ? FOR UPDATE`, id).Scan(&got)
		if err != nil && !errors.Is(err, errNoRows) {
			return fmt.Errorf("locking job: %w", err)
		}
	}
	return nil
}
