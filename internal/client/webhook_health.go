package client

import (
	"context"
	"net/http"
)

// WebhookStatus is what the operator's console shows of a webhook that
// keeps failing: where it points and why its deliveries fail.
type WebhookStatus struct {
	ID        int64  `json:"id"`
	URL       string `json:"url"`
	Failing   bool   `json:"failing"`
	Failures  int64  `json:"failures"` // consecutive failed deliveries
	LastError string `json:"last_error,omitempty"`
}

// FailingWebhooks lists the webhooks whose deliveries are failing, from
// GET /api/webhooks. A server without webhooks (404 for the route) has
// none failing: nil and no error.
func (c *Client) FailingWebhooks(ctx context.Context) ([]WebhookStatus, error) {
	var out struct {
		Webhooks []WebhookStatus `json:"webhooks"`
	}
	err := c.do(ctx, http.MethodGet, "/api/webhooks", nil, nil, &out, nil)
	if IsStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var failing []WebhookStatus
	for _, w := range out.Webhooks {
		if w.Failing || w.Failures > 0 {
			failing = append(failing, w)
		}
	}
	return failing, nil
}
