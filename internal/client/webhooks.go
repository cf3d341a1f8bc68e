package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook is one endpoint as the API lists it; Secret is set only in the
// answer to its creation.
type Webhook struct {
	ID             int64      `json:"id"`
	TenantID       int64      `json:"tenant_id,omitempty"`
	URL            string     `json:"url"`
	Events         []string   `json:"events,omitempty"`
	State          string     `json:"state"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	Cursor         int64      `json:"cursor"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	Attempt        int        `json:"attempt,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	Owner          string     `json:"owner,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	Secret         string     `json:"secret,omitempty"`
	// Warning and Pruned, in the answer to a resume: events retention
	// deleted past the cursor before the endpoint got them.
	Warning string      `json:"warning,omitempty"`
	Pruned  *WebhookGap `json:"pruned,omitempty"`
}

// WebhookGap is a span of event ids retention deleted before an endpoint
// got them.
type WebhookGap struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// Failing reports an endpoint that is disabled or retrying an event.
func (w Webhook) Failing() bool { return w.State == "disabled" || w.FailingSince != nil }

// WebhookDelivery is one attempt to deliver to an endpoint.
type WebhookDelivery struct {
	WebhookID int64         `json:"webhook_id"`
	EventID   string        `json:"event_id"`
	Attempt   int           `json:"attempt"`
	Status    int           `json:"status"`
	Latency   time.Duration `json:"latency_ns"`
	Error     string        `json:"error,omitempty"`
	Node      string        `json:"node,omitempty"`
	At        time.Time     `json:"at"`
}

// WebhookRequest registers an endpoint.
type WebhookRequest struct {
	URL      string   `json:"url"`
	Events   []string `json:"events,omitempty"`
	TenantID int64    `json:"tenant_id,omitempty"`
}

// AddWebhook registers an endpoint; the answer carries its secret, once.
func (c *Client) AddWebhook(ctx context.Context, req WebhookRequest, opts ...Option) (Webhook, error) {
	var w Webhook
	err := c.do(ctx, http.MethodPost, "/api/webhooks", nil, req, &w, opts)
	return w, err
}

// Webhooks lists the endpoints the token manages.
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	err := c.do(ctx, http.MethodGet, "/api/webhooks", nil, nil, &out, nil)
	return out.Webhooks, err
}

func webhookPath(id int64, rest string) string {
	return "/api/webhooks/" + strconv.FormatInt(id, 10) + rest
}

// RemoveWebhook forgets an endpoint.
func (c *Client) RemoveWebhook(ctx context.Context, id int64, opts ...Option) error {
	return c.do(ctx, http.MethodDelete, webhookPath(id, ""), nil, nil, nil, opts)
}

// PauseWebhook stops delivery to an endpoint.
func (c *Client) PauseWebhook(ctx context.Context, id int64, opts ...Option) (Webhook, error) {
	var w Webhook
	err := c.do(ctx, http.MethodPost, webhookPath(id, "/pause"), nil, nil, &w, opts)
	return w, err
}

// ResumeWebhook delivers on from the endpoint's cursor.
func (c *Client) ResumeWebhook(ctx context.Context, id int64, opts ...Option) (Webhook, error) {
	var w Webhook
	err := c.do(ctx, http.MethodPost, webhookPath(id, "/resume"), nil, nil, &w, opts)
	return w, err
}

// ReplayWebhook sends again every event after since.
func (c *Client) ReplayWebhook(ctx context.Context, id, since int64, opts ...Option) (Webhook, error) {
	var w Webhook
	err := c.do(ctx, http.MethodPost, webhookPath(id, "/replay"), nil, map[string]int64{"since": since}, &w, opts)
	return w, err
}

// TestWebhook sends a ping now and returns the attempt.
func (c *Client) TestWebhook(ctx context.Context, id int64, opts ...Option) (WebhookDelivery, error) {
	var d WebhookDelivery
	err := c.do(ctx, http.MethodPost, webhookPath(id, "/test"), nil, nil, &d, opts)
	return d, err
}

// WebhookDeliveries lists an endpoint's newest attempts, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, id int64, limit int) ([]WebhookDelivery, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Deliveries []WebhookDelivery `json:"deliveries"`
	}
	err := c.do(ctx, http.MethodGet, webhookPath(id, "/deliveries"), q, nil, &out, nil)
	return out.Deliveries, err
}
