package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/store"
)

// The statements are PostgreSQL's, with SQLite's numbered parameters
// (?1 for $1): one text per idea, two backends.
func numbered(q string) string { return strings.ReplaceAll(q, "$", "?") }

const webhookCols = `id, tenant_id, url, events, secret, state, disabled_reason, disabled_at, cursor_id, gen,
	failing_since, attempt, next_attempt_at, last_error, owner, lease_until, created_at`

func scanWebhook(r scanner) (*store.Webhook, error) {
	var w store.Webhook
	var events string
	var disabledAt, failing, next sql.NullInt64
	var lease, created int64
	if err := r.Scan(&w.ID, &w.TenantID, &w.URL, &events, &w.Secret, &w.State, &w.DisabledReason, &disabledAt, &w.Cursor, &w.Gen,
		&failing, &w.Attempt, &next, &w.LastError, &w.Owner, &lease, &created); err != nil {
		return nil, err
	}
	if events != "" {
		w.Events = strings.Split(events, ",")
	}
	w.DisabledAt, w.FailingSince, w.NextAttemptAt = optTime(disabledAt), optTime(failing), optTime(next)
	w.LeaseUntil, w.CreatedAt = fromMS(lease), fromMS(created)
	return &w, nil
}

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func optMS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}

// InsertWebhook stores w and fills in its id and generation.
func (s *Store) InsertWebhook(ctx context.Context, w *store.Webhook) error {
	return s.Write(ctx, func(tx store.Tx) error { return tx.InsertWebhook(w) })
}

// InsertWebhook stores w in the transaction.
func (t *Tx) InsertWebhook(w *store.Webhook) error {
	w.Gen = 1
	if err := t.row(numbered(store.InsertWebhookSQL), store.InsertWebhookArgs(w)...).Scan(&w.ID); err != nil {
		return fmt.Errorf("insert webhook: %w", err)
	}
	return nil
}

// Webhook reads one endpoint.
func (s *Store) Webhook(ctx context.Context, id int64) (*store.Webhook, error) {
	w, err := scanWebhook(s.rdb.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook: %w", err)
	}
	return w, nil
}

// ListWebhooks lists every endpoint by id.
func (s *Store) ListWebhooks(ctx context.Context) ([]store.Webhook, error) {
	return s.webhooks(ctx, s.rdb, `SELECT `+webhookCols+` FROM webhooks ORDER BY id`)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Store) webhooks(ctx context.Context, db querier, q string, args ...any) ([]store.Webhook, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	out := []store.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		out = append(out, *w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return out, nil
}

// DeleteWebhook forgets an endpoint and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id int64) (bool, error) {
	var ok bool
	err := s.Write(ctx, func(tx store.Tx) error {
		var err error
		ok, err = tx.DeleteWebhook(id)
		return err
	})
	return ok, err
}

// DeleteWebhook forgets an endpoint and its deliveries in the transaction.
func (t *Tx) DeleteWebhook(id int64) (bool, error) {
	if _, err := t.exec(`DELETE FROM webhook_deliveries WHERE webhook_id = ?`, id); err != nil {
		return false, fmt.Errorf("delete webhook: %w", err)
	}
	res, err := t.exec(`DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return false, fmt.Errorf("delete webhook: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("delete webhook: %w", err)
	}
	return n > 0, nil
}

// ChangeWebhook applies an operator's change as a new generation.
func (s *Store) ChangeWebhook(ctx context.Context, id int64, c store.WebhookChange) (*store.Webhook, error) {
	var w *store.Webhook
	err := s.Write(ctx, func(tx store.Tx) error {
		var err error
		w, err = tx.ChangeWebhook(id, c)
		return err
	})
	return w, err
}

// ChangeWebhook applies an operator's change in the transaction.
func (t *Tx) ChangeWebhook(id int64, c store.WebhookChange) (*store.Webhook, error) {
	w, err := scanWebhook(t.row(numbered(store.ChangeWebhookSQL)+` RETURNING `+webhookCols, store.ChangeWebhookArgs(id, c)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, fmt.Errorf("change webhook: %w", err)
	}
	return w, nil
}

// ClaimWebhooks renews and takes leases; one process owns a SQLite file,
// so it takes them all, but through the same statement as PostgreSQL.
func (s *Store) ClaimWebhooks(ctx context.Context, owner string, now, until time.Time) ([]store.Webhook, error) {
	var out []store.Webhook
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.webhooks(ctx, tx, numbered(store.ClaimWebhooksSQL)+` RETURNING `+webhookCols, owner, ms(now), ms(until))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhooks: %w", err)
	}
	return out, nil
}

// ReleaseWebhooks gives up owner's leases.
func (s *Store) ReleaseWebhooks(ctx context.Context, owner string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE webhooks SET owner = '', lease_until = 0 WHERE owner = ?`, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("release webhooks: %w", err)
	}
	return nil
}

// WebhookProgress records a worker's progress if it still holds the
// endpoint at its generation, and its deliveries in any case.
func (s *Store) WebhookProgress(ctx context.Context, p store.WebhookProgress) (bool, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		for _, d := range p.Deliveries {
			if err := insertDelivery(ctx, tx, d); err != nil {
				return err
			}
		}
		if len(p.Deliveries) > 0 {
			if _, err := tx.ExecContext(ctx, numbered(store.TrimDeliveriesSQL), p.ID, store.WebhookDeliveriesKept); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, numbered(store.WebhookProgressSQL), store.WebhookProgressArgs(p, optMS)...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("webhook progress: %w", err)
	}
	return n > 0, nil
}

func insertDelivery(ctx context.Context, tx *sql.Tx, d store.WebhookDelivery) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, event_id, attempt, status, latency_us, error, node, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, d.WebhookID, d.EventID, d.Attempt, d.Status, d.Latency.Microseconds(), d.Error, d.Node, ms(d.At))
	return err
}

// AddWebhookDelivery records one attempt outside the log's order.
func (s *Store) AddWebhookDelivery(ctx context.Context, d store.WebhookDelivery) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := insertDelivery(ctx, tx, d); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, numbered(store.TrimDeliveriesSQL), d.WebhookID, store.WebhookDeliveriesKept)
		return err
	})
	if err != nil {
		return fmt.Errorf("record webhook delivery: %w", err)
	}
	return nil
}

// WebhookDeliveries lists an endpoint's newest attempts, newest first.
func (s *Store) WebhookDeliveries(ctx context.Context, id int64, limit int) ([]store.WebhookDelivery, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT webhook_id, event_id, attempt, status, latency_us, error, node, at
		FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	defer rows.Close()
	out := []store.WebhookDelivery{}
	for rows.Next() {
		var d store.WebhookDelivery
		var us, at int64
		if err := rows.Scan(&d.WebhookID, &d.EventID, &d.Attempt, &d.Status, &us, &d.Error, &d.Node, &at); err != nil {
			return nil, fmt.Errorf("list webhook deliveries: %w", err)
		}
		d.Latency, d.At = time.Duration(us)*time.Microsecond, fromMS(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	return out, nil
}

// webhookFloor is where retention stops: the lowest cursor of an active
// endpoint (nothing above it may go), and whether there is one.
func (s *Store) webhookFloor(ctx context.Context) (int64, bool, error) {
	var v sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, store.WebhookFloorSQL).Scan(&v); err != nil {
		return 0, false, fmt.Errorf("read webhook cursors: %w", err)
	}
	return v.Int64, v.Valid, nil
}
