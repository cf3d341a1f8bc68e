package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/posd/posd/internal/report"
)

// reportQuery turns a report.Query into the reports' query parameters:
// date, or from and to, or month; tenant. Empty fields are not sent.
func reportQuery(q report.Query) url.Values {
	v := url.Values{}
	for _, p := range []struct{ k, v string }{{"date", q.Date}, {"from", q.From}, {"to", q.To}, {"month", q.Month}} {
		if p.v != "" {
			v.Set(p.k, p.v)
		}
	}
	if q.TenantID != 0 {
		v.Set("tenant", strconv.FormatInt(q.TenantID, 10))
	}
	return v
}

// SalesReport is GET /api/reports/sales.
func (c *Client) SalesReport(ctx context.Context, q report.Query) (report.Sales, error) {
	var out report.Sales
	err := c.do(ctx, http.MethodGet, "/api/reports/sales", reportQuery(q), nil, &out, nil)
	return out, err
}

// SpeedReport is GET /api/reports/speed, late orders counted at the
// server's default age.
func (c *Client) SpeedReport(ctx context.Context, q report.Query) (report.Speed, error) {
	var out report.Speed
	err := c.do(ctx, http.MethodGet, "/api/reports/speed", reportQuery(q), nil, &out, nil)
	return out, err
}

// SettlementReport is GET /api/reports/settlement.
func (c *Client) SettlementReport(ctx context.Context, q report.Query) (report.Settlement, error) {
	var out report.Settlement
	err := c.do(ctx, http.MethodGet, "/api/reports/settlement", reportQuery(q), nil, &out, nil)
	return out, err
}

// EventsReport is GET /api/reports/events.
func (c *Client) EventsReport(ctx context.Context, q report.Query) (report.Events, error) {
	var out report.Events
	err := c.do(ctx, http.MethodGet, "/api/reports/events", reportQuery(q), nil, &out, nil)
	return out, err
}
