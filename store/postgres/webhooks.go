package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/store"
)

const webhookCols = `id, tenant_id, url, events, secret, state, disabled_reason, disabled_at, cursor_id, gen,
	failing_since, attempt, next_attempt_at, last_error, owner, lease_until, created_at`

func scanWebhook(r pgx.Row) (*store.Webhook, error) {
	var w store.Webhook
	var events string
	var disabledAt, failing, next *int64
	var lease, created, attempt int64
	if err := r.Scan(&w.ID, &w.TenantID, &w.URL, &events, &w.Secret, &w.State, &w.DisabledReason, &disabledAt, &w.Cursor, &w.Gen,
		&failing, &attempt, &next, &w.LastError, &w.Owner, &lease, &created); err != nil {
		return nil, err
	}
	if events != "" {
		w.Events = strings.Split(events, ",")
	}
	w.Attempt = int(attempt)
	w.DisabledAt, w.FailingSince, w.NextAttemptAt = optTime(disabledAt), optTime(failing), optTime(next)
	w.LeaseUntil, w.CreatedAt = fromMS(lease), fromMS(created)
	return &w, nil
}

func optTime(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromMS(*v)
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
func (t *tx) InsertWebhook(w *store.Webhook) error {
	w.Gen = 1
	if err := t.tx.QueryRow(t.ctx, store.InsertWebhookSQL, store.InsertWebhookArgs(w)...).Scan(&w.ID); err != nil {
		return fmt.Errorf("insert webhook: %w", err)
	}
	return nil
}

// Webhook reads one endpoint.
func (s *Store) Webhook(ctx context.Context, id int64) (*store.Webhook, error) {
	w, err := scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, readErr("read webhook", err)
	}
	return w, nil
}

// ListWebhooks lists every endpoint by id.
func (s *Store) ListWebhooks(ctx context.Context) ([]store.Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookCols+` FROM webhooks ORDER BY id`)
	if err != nil {
		return nil, readErr("list webhooks", err)
	}
	out, err := collectWebhooks(rows)
	if err != nil {
		return nil, readErr("list webhooks", err)
	}
	return out, nil
}

func collectWebhooks(rows pgx.Rows) ([]store.Webhook, error) {
	defer rows.Close()
	out := []store.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *w)
	}
	return out, rows.Err()
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

// DeleteWebhook forgets an endpoint in the transaction; its deliveries go
// with it (ON DELETE CASCADE).
func (t *tx) DeleteWebhook(id int64) (bool, error) {
	tag, err := t.tx.Exec(t.ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("delete webhook: %w", err)
	}
	return tag.RowsAffected() > 0, nil
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
func (t *tx) ChangeWebhook(id int64, c store.WebhookChange) (*store.Webhook, error) {
	w, err := scanWebhook(t.tx.QueryRow(t.ctx, store.ChangeWebhookSQL+` RETURNING `+webhookCols, store.ChangeWebhookArgs(id, c)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, fmt.Errorf("change webhook: %w", err)
	}
	return w, nil
}

// ClaimWebhooks renews owner's leases and takes the lapsed ones.
func (s *Store) ClaimWebhooks(ctx context.Context, owner string, now, until time.Time) ([]store.Webhook, error) {
	var out []store.Webhook
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, store.ClaimWebhooksSQL+` RETURNING `+webhookCols, owner, ms(now), ms(until))
		if err != nil {
			return err
		}
		out, err = collectWebhooks(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhooks: %w", err)
	}
	return out, nil
}

// ReleaseWebhooks gives up owner's leases.
func (s *Store) ReleaseWebhooks(ctx context.Context, owner string) error {
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhooks SET owner = '', lease_until = 0 WHERE owner = $1`, owner)
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
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		n = 0
		if err := insertDeliveries(ctx, tx, p.Deliveries); err != nil {
			return err
		}
		if len(p.Deliveries) > 0 {
			if _, err := tx.Exec(ctx, store.TrimDeliveriesSQL, p.ID, store.WebhookDeliveriesKept); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, store.WebhookProgressSQL, store.WebhookProgressArgs(p, optMS)...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("webhook progress: %w", err)
	}
	return n > 0, nil
}

func insertDeliveries(ctx context.Context, tx pgx.Tx, ds []store.WebhookDelivery) error {
	for _, d := range ds {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (webhook_id, event_id, attempt, status, latency_us, error, node, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, d.WebhookID, d.EventID, d.Attempt, d.Status, d.Latency.Microseconds(), d.Error, d.Node, ms(d.At)); err != nil {
			return err
		}
	}
	return nil
}

// AddWebhookDelivery records one attempt outside the log's order.
func (s *Store) AddWebhookDelivery(ctx context.Context, d store.WebhookDelivery) error {
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		if err := insertDeliveries(ctx, tx, []store.WebhookDelivery{d}); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, store.TrimDeliveriesSQL, d.WebhookID, store.WebhookDeliveriesKept)
		return err
	})
	if err != nil {
		return fmt.Errorf("record webhook delivery: %w", err)
	}
	return nil
}

// WebhookDeliveries lists an endpoint's newest attempts, newest first.
func (s *Store) WebhookDeliveries(ctx context.Context, id int64, limit int) ([]store.WebhookDelivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT webhook_id, event_id, attempt, status, latency_us, error, node, at
		FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, readErr("list webhook deliveries", err)
	}
	defer rows.Close()
	out := []store.WebhookDelivery{}
	for rows.Next() {
		var d store.WebhookDelivery
		var attempt, status, us, at int64
		if err := rows.Scan(&d.WebhookID, &d.EventID, &attempt, &status, &us, &d.Error, &d.Node, &at); err != nil {
			return nil, readErr("list webhook deliveries", err)
		}
		d.Attempt, d.Status = int(attempt), int(status)
		d.Latency, d.At = time.Duration(us)*time.Microsecond, fromMS(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("list webhook deliveries", err)
	}
	return out, nil
}

// webhookFloor is the lowest cursor of an active endpoint, and whether
// there is one: retention does not prune past it.
func (s *Store) webhookFloor(ctx context.Context) (int64, bool, error) {
	var v *int64
	if err := s.pool.QueryRow(ctx, store.WebhookFloorSQL).Scan(&v); err != nil {
		return 0, false, readErr("read webhook cursors", err)
	}
	if v == nil {
		return 0, false, nil
	}
	return *v, true, nil
}
