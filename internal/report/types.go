// Package report owns the day's numbers: the shapes of the sales,
// speed-of-service, settlement and event reports as the API sends them
// and the console and CLI read them. Money is integer Rupiah; durations
// are integer milliseconds; days are local days in the server's zone.
package report

// Sales is what each stall sold over a range of local days.
type Sales struct {
	TZ     string       `json:"tz"`
	From   string       `json:"from"`
	To     string       `json:"to"`
	Stalls []StallSales `json:"stalls"`
	Total  SalesFigures `json:"total"`
}

// StallSales is one stall's line of a sales report.
type StallSales struct {
	TenantID int64  `json:"tenant_id"`
	Tenant   string `json:"tenant"`
	SalesFigures
}

// SalesFigures are the sums a sales line carries. ByMethod is net of
// refunds per payment method, and its values sum to Net.
type SalesFigures struct {
	Orders         int64            `json:"orders"`
	Gross          int64            `json:"gross"`
	Refunds        int64            `json:"refunds"`
	Net            int64            `json:"net"`
	ByMethod       map[string]int64 `json:"by_method"`
	Cancelled      int64            `json:"cancelled"`
	CancelledValue int64            `json:"cancelled_value"`
	AvgTicket      int64            `json:"avg_ticket"`
}

// Speed is the speed of service per stall and hour.
type Speed struct {
	TZ     string       `json:"tz"`
	From   string       `json:"from"`
	To     string       `json:"to"`
	Stalls []StallSpeed `json:"stalls"`
}

// Percentiles of one step of an order's life, in milliseconds, over the
// N orders that made the step; with N 0 there is nothing to tell (and the
// percentiles read 0).
type Percentiles struct {
	N   int64 `json:"n"`
	P50 int64 `json:"p50_ms"`
	P90 int64 `json:"p90_ms"`
}

// SpeedFigures are the timings of one stall over a range or an hour.
type SpeedFigures struct {
	Orders           int64       `json:"orders"`
	Late             int64       `json:"late"`
	ToPreparing      Percentiles `json:"to_preparing"`
	PreparingToReady Percentiles `json:"preparing_to_ready"`
	ReadyToCollected Percentiles `json:"ready_to_collected"`
}

// StallSpeed is one stall's line of a speed report, with its hours.
type StallSpeed struct {
	TenantID int64  `json:"tenant_id"`
	Tenant   string `json:"tenant"`
	SpeedFigures
	AvgToReady int64       `json:"avg_to_ready_ms"`
	Hours      []HourSpeed `json:"hours"`
}

// HourSpeed is one local hour of the day (0–23) of a stall.
type HourSpeed struct {
	Hour int `json:"hour"`
	SpeedFigures
}

// Settlement is the revenue-share settlement of a period. For each stall
// and for the total, Commission + Payout + Fees == Net exactly.
type Settlement struct {
	TZ     string            `json:"tz"`
	From   string            `json:"from"`
	To     string            `json:"to"`
	Closed bool              `json:"closed"`
	Stalls []StallSettlement `json:"stalls"`
	Total  SettlementFigures `json:"total"`
}

// SettlementFigures are the sums of a settlement line.
type SettlementFigures struct {
	Net        int64 `json:"net"`
	Fees       int64 `json:"fees"`
	Commission int64 `json:"commission"`
	Payout     int64 `json:"payout"`
}

// StallSettlement is one stall's line. ShareBP is the share in basis
// points in force at the end of the period.
type StallSettlement struct {
	TenantID int64  `json:"tenant_id"`
	Tenant   string `json:"tenant"`
	ShareBP  int64  `json:"share_bp"`
	SettlementFigures
	// PriorRefunds is the part of the refunds in this period whose
	// payments were taken before it began: a refund after a close lands
	// here, in the period of the refund, and shows.
	PriorRefunds int64 `json:"prior_refunds"`
}

// Events counts the log's events per type and local hour.
type Events struct {
	TZ       string                `json:"tz"`
	From     string                `json:"from"`
	To       string                `json:"to"`
	Types    map[string]EventCount `json:"types"`
	PeakHour string                `json:"peak_hour"`
	Alerts   int64                 `json:"alerts"`
}

// EventCount is one event type's total and its hours ("2026-12-04T12").
type EventCount struct {
	Total int64       `json:"total"`
	Hours []HourCount `json:"hours"`
}

// HourCount is the count of one local hour.
type HourCount struct {
	Hour  string `json:"hour"`
	Count int64  `json:"count"`
}

// Query selects the local days and the stall of a report: Date alone,
// From and To (inclusive), or Month ("2026-11"); none means today.
// TenantID 0 means every stall the caller may see.
type Query struct {
	Date     string
	From     string
	To       string
	Month    string
	TenantID int64
}
