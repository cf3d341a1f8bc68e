package store

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Webhooks are endpoints that get every event of the log they may see, in
// log order, at least once. Each endpoint keeps its place in the log in the
// database (Cursor), so a restart or another node carries on from there;
// one node at a time delivers it, the one holding its lease.
type Webhooks interface {
	// InsertWebhook stores w (its ID, Gen and CreatedAt are set).
	InsertWebhook(ctx context.Context, w *Webhook) error
	// Webhook is one endpoint; an unknown id is a CodeNotFound error.
	Webhook(ctx context.Context, id int64) (*Webhook, error)
	// ListWebhooks lists every endpoint by id.
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	// DeleteWebhook forgets an endpoint and its deliveries; false when
	// there was none.
	DeleteWebhook(ctx context.Context, id int64) (bool, error)
	// ChangeWebhook applies an operator's change (pause, resume, replay,
	// disable) and starts a new generation: the retry state is cleared,
	// and progress a worker reports for the older generation is refused.
	ChangeWebhook(ctx context.Context, id int64, c WebhookChange) (*Webhook, error)

	// ClaimWebhooks renews owner's leases on the active endpoints it holds
	// and takes those whose lease has lapsed (or that nobody holds), until
	// `until`, in one statement per call: of any number of nodes claiming
	// at once, one gets each endpoint. It returns what owner holds now.
	ClaimWebhooks(ctx context.Context, owner string, now, until time.Time) ([]Webhook, error)
	// ReleaseWebhooks gives up owner's leases (a clean shutdown), so that
	// another node takes them over at once.
	ReleaseWebhooks(ctx context.Context, owner string) error
	// WebhookProgress records a worker's progress and its deliveries in
	// one transaction. The progress is applied only if p.Owner still holds
	// the endpoint at generation p.Gen (false otherwise); the deliveries
	// are recorded either way, and each endpoint keeps its newest
	// WebhookDeliveriesKept.
	WebhookProgress(ctx context.Context, p WebhookProgress) (bool, error)
	// AddWebhookDelivery records one attempt outside the log's order (a
	// test ping).
	AddWebhookDelivery(ctx context.Context, d WebhookDelivery) error
	// WebhookDeliveries lists an endpoint's newest attempts, newest first.
	WebhookDeliveries(ctx context.Context, id int64, limit int) ([]WebhookDelivery, error)
}

// WebhookDeliveriesKept is how many recent attempts each endpoint keeps.
const WebhookDeliveriesKept = 100

// Webhook states.
const (
	WebhookActive   = "active"
	WebhookPaused   = "paused"
	WebhookDisabled = "disabled"
)

// Webhook is one endpoint and its place in the log.
type Webhook struct {
	ID int64 `json:"id"`
	// TenantID is the stall whose events it gets; 0: every event (an
	// admin's endpoint).
	TenantID int64  `json:"tenant_id,omitempty"`
	URL      string `json:"url"`
	// Events are the event names it gets; empty: every name.
	Events []string `json:"events,omitempty"`
	// Secret signs its deliveries (whsec_…); shown once, at creation.
	Secret         string     `json:"-"`
	State          string     `json:"state"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	// Cursor is the id of the last event delivered (or passed over as not
	// its own): delivery goes on after it.
	Cursor int64 `json:"cursor"`
	// Gen counts operator changes; a worker's progress names the
	// generation it started from.
	Gen int64 `json:"-"`
	// FailingSince is when the event after Cursor first failed; Attempt
	// counts its failures and NextAttemptAt is when it is tried again.
	FailingSince  *time.Time `json:"failing_since,omitempty"`
	Attempt       int        `json:"attempt,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	// Owner is the node delivering it until LeaseUntil.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
}

// WebhookChange is an operator's change to an endpoint: a nil field is
// left as it is.
type WebhookChange struct {
	State  string // "": unchanged
	Reason string // with State disabled
	At     time.Time
	Cursor *int64
}

// WebhookProgress is what a worker learned since it last reported.
type WebhookProgress struct {
	ID    int64
	Owner string
	Gen   int64
	// Cursor, FailingSince, Attempt, NextAttemptAt and LastError replace
	// the stored values.
	Cursor        int64
	FailingSince  *time.Time
	Attempt       int
	NextAttemptAt *time.Time
	LastError     string
	// Disable, with Reason, ends delivery (24 h of failures, 410 Gone).
	Disable    bool
	Reason     string
	At         time.Time
	Deliveries []WebhookDelivery
}

// WebhookDelivery is one attempt to deliver an event to an endpoint.
type WebhookDelivery struct {
	WebhookID int64 `json:"webhook_id"`
	// EventID is the webhook-id header: the event's id, or ping_… for a
	// test ping.
	EventID string        `json:"event_id"`
	Attempt int           `json:"attempt"`
	Status  int           `json:"status"` // 0: no response
	Latency time.Duration `json:"latency_ns"`
	Error   string        `json:"error,omitempty"`
	Node    string        `json:"node,omitempty"`
	At      time.Time     `json:"at"`
}

// WebhookGap is a span of the log that retention deleted past an
// endpoint's cursor before the endpoint got it: a paused or disabled
// endpoint does not hold retention back, nor could a prune that began
// before the endpoint became active again. The span bounds what was lost:
// of its ids, those retention kept (the newest of each room) are still
// delivered, and not every id was the endpoint's event.
type WebhookGap struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// PrunedPast is the gap between an endpoint's cursor and the horizon
// (store.Horizon, for the endpoint's rooms: the highest id retention
// deleted), and whether there is one.
func PrunedPast(cursor, horizon int64) (WebhookGap, bool) {
	return WebhookGap{From: cursor + 1, To: horizon}, horizon > cursor
}

// IDs is the span as a delivery record names it, "101–250".
func (g WebhookGap) IDs() string {
	if g.From == g.To {
		return strconv.FormatInt(g.From, 10)
	}
	return strconv.FormatInt(g.From, 10) + "–" + strconv.FormatInt(g.To, 10)
}

func (g WebhookGap) String() string {
	return "events " + g.IDs() + " were pruned by retention before delivery"
}

// The statements both backends run for webhooks, written once in
// PostgreSQL's placeholders ($1); SQLite runs them with its numbered ones
// (?1). A backend appends RETURNING with its column list where it reads
// the rows back.
const (
	// InsertWebhookSQL: $1 tenant, $2 url, $3 events (comma-separated),
	// $4 secret, $5 state, $6 cursor, $7 created (ms); returns the id.
	InsertWebhookSQL = `INSERT INTO webhooks (tenant_id, url, events, secret, state, cursor_id, gen, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7) RETURNING id`
	// ChangeWebhookSQL: $1 id, $2 state ("" unchanged), $3 reason,
	// $4 at (ms), $5 cursor (NULL unchanged).
	ChangeWebhookSQL = `UPDATE webhooks SET
		state = CASE WHEN $2 = '' THEN state ELSE $2 END,
		disabled_reason = CASE WHEN $2 = '' THEN disabled_reason WHEN $2 = 'disabled' THEN $3 ELSE '' END,
		disabled_at = CASE WHEN $2 = '' THEN disabled_at WHEN $2 = 'disabled' THEN $4 ELSE NULL END,
		cursor_id = COALESCE($5, cursor_id),
		gen = gen + 1, failing_since = NULL, attempt = 0, next_attempt_at = NULL, last_error = ''
		WHERE id = $1`
	// ClaimWebhooksSQL: $1 owner, $2 now (ms), $3 lease end (ms). Under
	// PostgreSQL's READ COMMITTED a second claimer of the same row waits
	// for the first and then finds the row taken (its WHERE is evaluated
	// again on the new version), so one node gets each endpoint.
	ClaimWebhooksSQL = `UPDATE webhooks SET owner = $1, lease_until = $3
		WHERE state = 'active' AND (owner = $1 OR owner = '' OR lease_until < $2)`
	// WebhookProgressSQL: $1 id, $2 owner, $3 gen, $4 cursor,
	// $5 failing since, $6 attempt, $7 next attempt, $8 last error,
	// $9 disable, $10 reason, $11 at.
	WebhookProgressSQL = `UPDATE webhooks SET cursor_id = $4, failing_since = $5, attempt = $6, next_attempt_at = $7, last_error = $8,
		state = CASE WHEN $9 THEN 'disabled' ELSE state END,
		disabled_reason = CASE WHEN $9 THEN $10 ELSE disabled_reason END,
		disabled_at = CASE WHEN $9 THEN $11 ELSE disabled_at END
		WHERE id = $1 AND owner = $2 AND gen = $3 AND state = 'active'`
	// TrimDeliveriesSQL: $1 webhook id, $2 how many to keep.
	TrimDeliveriesSQL = `DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND id <=
		(SELECT id FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)`
	// WebhookFloorSQL is the lowest cursor of an active endpoint (NULL:
	// none), which retention does not prune past.
	WebhookFloorSQL = `SELECT MIN(cursor_id) FROM webhooks WHERE state = 'active'`
)

// InsertWebhookArgs are InsertWebhookSQL's arguments.
func InsertWebhookArgs(w *Webhook) []any {
	return []any{w.TenantID, w.URL, strings.Join(w.Events, ","), w.Secret, w.State, w.Cursor, w.CreatedAt.UnixMilli()}
}

// ChangeWebhookArgs are ChangeWebhookSQL's arguments.
func ChangeWebhookArgs(id int64, c WebhookChange) []any {
	var cursor any
	if c.Cursor != nil {
		cursor = *c.Cursor
	}
	return []any{id, c.State, c.Reason, c.At.UnixMilli(), cursor}
}

// WebhookProgressArgs are WebhookProgressSQL's arguments; optMS renders
// an optional time as the backend binds NULL.
func WebhookProgressArgs(p WebhookProgress, optMS func(*time.Time) any) []any {
	return []any{p.ID, p.Owner, p.Gen, p.Cursor, optMS(p.FailingSince), p.Attempt, optMS(p.NextAttemptAt), p.LastError,
		p.Disable, p.Reason, p.At.UnixMilli()}
}
