package client

import (
	"context"
	"net/http"
)

// FailingWebhooks lists the endpoints that are disabled or retrying an
// event, from GET /api/webhooks. A server that predates webhooks (404 for
// the route) has none failing: nil and no error; any other refusal is an
// error, so a console never reads "no access" as "all well".
func (c *Client) FailingWebhooks(ctx context.Context) ([]Webhook, error) {
	hooks, err := c.Webhooks(ctx)
	if IsStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var failing []Webhook
	for _, h := range hooks {
		if h.Failing() {
			failing = append(failing, h)
		}
	}
	return failing, nil
}
