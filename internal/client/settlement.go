package client

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/posd/posd/internal/report"
)

// SpeedReportLate is GET /api/reports/speed with orders counted late past
// late (0: the server's default, the display's --late).
func (c *Client) SpeedReportLate(ctx context.Context, q report.Query, late time.Duration) (report.Speed, error) {
	v := reportQuery(q)
	if late > 0 {
		v.Set("late", late.String())
	}
	var out report.Speed
	err := c.do(ctx, http.MethodGet, "/api/reports/speed", v, nil, &out, nil)
	return out, err
}

// Terms are the settlement terms: every share and fee with its history,
// and the closed periods.
type Terms struct {
	Shares []report.Share  `json:"shares"`
	Fees   []report.Fee    `json:"fees"`
	Closed []report.Period `json:"closed"`
}

// SettlementTerms is GET /api/reports/terms.
func (c *Client) SettlementTerms(ctx context.Context) (Terms, error) {
	var out Terms
	err := c.do(ctx, http.MethodGet, "/api/reports/terms", nil, nil, &out, nil)
	return out, err
}

// ClosePeriod closes a month (YYYY-MM) and returns its settlement as it
// stays from then on.
func (c *Client) ClosePeriod(ctx context.Context, month string, opts ...Option) (report.Settlement, error) {
	var out report.Settlement
	err := c.do(ctx, http.MethodPost, "/api/reports/close", nil, map[string]string{"month": month}, &out, opts)
	return out, err
}

// SetShare sets a stall's revenue share in basis points from a local day
// (YYYY-MM-DD) on.
func (c *Client) SetShare(ctx context.Context, tenantID int64, from string, bp int64, opts ...Option) (report.Share, error) {
	var out report.Share
	body := map[string]any{"from": from, "bp": bp}
	err := c.do(ctx, http.MethodPost, "/api/tenants/"+strconv.FormatInt(tenantID, 10)+"/shares", nil, body, &out, opts)
	return out, err
}

// SetFee sets a payment method's fee in basis points from a local day on.
func (c *Client) SetFee(ctx context.Context, method, from string, bp int64, opts ...Option) (report.Fee, error) {
	var out report.Fee
	err := c.do(ctx, http.MethodPost, "/api/fees", nil, report.Fee{Method: method, From: from, BP: bp}, &out, opts)
	return out, err
}
