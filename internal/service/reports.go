package service

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/store"
)

// ReportReader is the store's report reads (see store.Store).
type ReportReader interface {
	MoneySums(ctx context.Context, w report.Window, priorBefore time.Time, cuts ...time.Time) ([]report.MoneyRow, error)
	Cancellations(ctx context.Context, w report.Window) ([]report.CancelRow, error)
	OrderTimes(ctx context.Context, w report.Window) ([]report.OrderTimes, error)
	EventHours(ctx context.Context, s report.LocalSpan) ([]report.EventHour, error)
	Terms(ctx context.Context) (report.Terms, error)
	ClosedPeriod(ctx context.Context, month string) (*report.Closed, error)
}

// Location is the zone of the local days reports count in.
func (s *Service) Location() *time.Location { return s.loc }

// reportTenant is the stall a report of p covers: an admin's choice (0:
// every stall), a stall token's own stall. Naming another stall, or
// asking with any other token, is forbidden.
func reportTenant(p auth.Principal, tenant int64) (int64, error) {
	switch {
	case p.IsAdmin():
		return tenant, nil
	case p.Role == auth.RoleTenant:
		if tenant != 0 && tenant != p.TenantID {
			return 0, forbidden("this token may not read tenant %d's reports", tenant)
		}
		return p.TenantID, nil
	}
	return 0, forbidden("reports are for the admin and each stall's own token")
}

// reportStalls lists the stalls a report covers, by id; a stall named that
// does not exist is not found.
func (s *Service) reportStalls(ctx context.Context, tenant int64) ([]report.Stall, error) {
	ts, err := s.r.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	out := []report.Stall{}
	for _, t := range ts {
		if tenant == 0 || t.ID == tenant {
			out = append(out, report.Stall{ID: t.ID, Name: t.Name})
		}
	}
	if tenant != 0 && len(out) == 0 {
		return nil, domain.Errorf(domain.CodeNotFound, "tenant %d not found", tenant)
	}
	return out, nil
}

// prepare checks p's scope and resolves q in the server's zone.
func (s *Service) prepare(ctx context.Context, p auth.Principal, q report.Query) (report.Range, int64, []report.Stall, error) {
	tenant, err := reportTenant(p, q.TenantID)
	if err != nil {
		return report.Range{}, 0, nil, err
	}
	r, err := report.Resolve(q, s.loc, s.now())
	if err != nil {
		return report.Range{}, 0, nil, err
	}
	stalls, err := s.reportStalls(ctx, tenant)
	return r, tenant, stalls, err
}

// SalesReport is each stall's sales over local days: payments by the time
// they were taken, refunds by theirs, cancellations by the cancel's.
func (s *Service) SalesReport(ctx context.Context, p auth.Principal, q report.Query) (report.Sales, error) {
	r, tenant, stalls, err := s.prepare(ctx, p, q)
	if err != nil {
		return report.Sales{}, err
	}
	money, err := s.rep.MoneySums(ctx, r.Window(tenant), r.Start)
	if err != nil {
		return report.Sales{}, err
	}
	cancels, err := s.rep.Cancellations(ctx, r.Window(tenant))
	if err != nil {
		return report.Sales{}, err
	}
	return report.BuildSales(r, s.loc.String(), stalls, money, cancels), nil
}

// SpeedReport is each stall's speed of service over the orders created in
// the range; late 0 is the display's default.
func (s *Service) SpeedReport(ctx context.Context, p auth.Principal, q report.Query, late time.Duration) (report.Speed, error) {
	if late == 0 {
		late = report.DefaultLate
	}
	if late < 0 {
		return report.Speed{}, domain.Errorf(domain.CodeInvalid, "late must be a positive duration")
	}
	r, tenant, stalls, err := s.prepare(ctx, p, q)
	if err != nil {
		return report.Speed{}, err
	}
	times, err := s.rep.OrderTimes(ctx, r.Window(tenant))
	if err != nil {
		return report.Speed{}, err
	}
	return report.BuildSpeed(r, s.loc.String(), s.loc, stalls, times, late, s.now()), nil
}

// EventsReport counts the log's events per type and local hour, from the
// counts kept beside the log (which outlive its retention).
func (s *Service) EventsReport(ctx context.Context, p auth.Principal, q report.Query) (report.Events, error) {
	r, tenant, _, err := s.prepare(ctx, p, q)
	if err != nil {
		return report.Events{}, err
	}
	var hours []report.EventHour
	for _, sp := range r.Window(tenant).LocalSpans(s.loc) {
		h, err := s.rep.EventHours(ctx, sp)
		if err != nil {
			return report.Events{}, err
		}
		hours = append(hours, h...)
	}
	return report.BuildEvents(r, s.loc.String(), hours), nil
}

// SettlementReport is the revenue-share settlement of a period. A closed
// period reports what was computed at its close, whatever came after;
// another is computed now.
func (s *Service) SettlementReport(ctx context.Context, p auth.Principal, q report.Query) (report.Settlement, error) {
	r, tenant, stalls, err := s.prepare(ctx, p, q)
	if err != nil {
		return report.Settlement{}, err
	}
	terms, err := s.rep.Terms(ctx)
	if err != nil {
		return report.Settlement{}, err
	}
	for _, c := range terms.Closed {
		if c.From == r.From && c.To == r.To {
			return s.closedSettlement(ctx, c.Month, tenant)
		}
	}
	return s.settle(ctx, r, tenant, stalls, terms)
}

func (s *Service) settle(ctx context.Context, r report.Range, tenant int64, stalls []report.Stall, terms report.Terms) (report.Settlement, error) {
	segs := report.Segments(r, terms)
	sums := make([]report.SegmentSums, len(segs))
	var cuts []time.Time
	for i, seg := range segs {
		sums[i].Range = report.DayRange(seg.From, seg.To, s.loc)
		if i > 0 {
			cuts = append(cuts, sums[i].Start)
		}
	}
	// One statement for the period, summed per segment: a scan of the
	// month's payments, not one per segment.
	rows, err := s.rep.MoneySums(ctx, r.Window(tenant), r.Start, cuts...)
	if err != nil {
		return report.Settlement{}, err
	}
	for _, row := range rows {
		if row.Segment < 0 || row.Segment >= len(sums) {
			return report.Settlement{}, fmt.Errorf("settle %s..%s: a sum of segment %d of %d", r.From, r.To, row.Segment, len(sums))
		}
		sums[row.Segment].Rows = append(sums[row.Segment].Rows, row)
	}
	return report.Settle(r, s.loc.String(), stalls, terms, sums), nil
}

// closedSettlement is a closed month's snapshot, cut to one stall's line
// for a stall's report.
func (s *Service) closedSettlement(ctx context.Context, month string, tenant int64) (report.Settlement, error) {
	c, err := s.rep.ClosedPeriod(ctx, month)
	if err != nil {
		return report.Settlement{}, err
	}
	if c == nil {
		return report.Settlement{}, domain.Errorf(domain.CodeNotFound, "period %s is not closed", month)
	}
	var out report.Settlement
	if err := json.Unmarshal(c.Snapshot, &out); err != nil {
		return report.Settlement{}, fmt.Errorf("read the snapshot of %s: %w", month, err)
	}
	if tenant != 0 {
		out.Total = report.SettlementFigures{}
		var mine []report.StallSettlement
		for _, st := range out.Stalls {
			if st.TenantID == tenant {
				mine = append(mine, st)
				out.Total = st.SettlementFigures
			}
		}
		out.Stalls = mine
		if out.Stalls == nil {
			out.Stalls = []report.StallSettlement{}
		}
	}
	return out, nil
}

// ClosePeriod closes a month that has ended: its settlement is computed
// once more and kept as it is, and from then on the month reports that
// and no share or fee may change from a day in it. Admin only.
func (s *Service) ClosePeriod(ctx context.Context, p auth.Principal, month string) (report.Settlement, error) {
	if !p.IsAdmin() {
		return report.Settlement{}, forbidden("only an admin may close a period")
	}
	if month == "" {
		return report.Settlement{}, domain.Errorf(domain.CodeInvalid, "month is required (YYYY-MM)")
	}
	r, err := report.Resolve(report.Query{Month: month}, s.loc, s.now())
	if err != nil {
		return report.Settlement{}, err
	}
	if now := s.now(); r.End.After(now) {
		return report.Settlement{}, domain.Errorf(domain.CodeConflict, "period %s has not ended: it ends %s", month, r.End.Format(time.RFC3339))
	}
	stalls, err := s.reportStalls(ctx, 0)
	if err != nil {
		return report.Settlement{}, err
	}
	return write(ctx, s, func(tx store.Tx) (report.Settlement, error) {
		terms, err := tx.Terms()
		if err != nil {
			return report.Settlement{}, err
		}
		for _, c := range terms.Closed {
			if c.Month == month {
				return report.Settlement{}, domain.Errorf(domain.CodeConflict, "period %s is already closed", month)
			}
		}
		out, err := s.settle(ctx, r, 0, stalls, terms)
		if err != nil {
			return report.Settlement{}, err
		}
		out.Closed = true
		snap, err := marshalResponse(out)
		if err != nil {
			return report.Settlement{}, err
		}
		err = tx.ClosePeriod(report.Closed{Period: report.Period{Month: month, From: r.From, To: r.To}, TZ: s.loc.String(), ClosedAt: tx.Now(), Snapshot: snap})
		return out, err
	})
}

// checkTermsChange refuses a share or fee change from a day inside a
// closed period: it would rewrite what was closed.
func checkTermsChange(t report.Terms, from string) error {
	if last := t.ClosedThrough(); from <= last {
		return domain.Errorf(domain.CodeConflict, "the periods through %s are closed: a change may apply from %s on, not from %s", last, report.NextDay(last), from).
			With("reason", "period_closed").With("closed_through", last)
	}
	return nil
}

func checkBP(bp int64) error {
	if bp < 0 || bp > report.BasisPoints {
		return domain.Errorf(domain.CodeInvalid, "bp must be 0 to %d (basis points: 1500 is 15%%), not %d", report.BasisPoints, bp)
	}
	return nil
}

// SetShare sets a stall's revenue share from a local day on. Admin only.
func (s *Service) SetShare(ctx context.Context, p auth.Principal, sh report.Share) (report.Share, error) {
	if !p.IsAdmin() {
		return report.Share{}, forbidden("only an admin may set revenue shares")
	}
	if sh.TenantID <= 0 {
		return report.Share{}, domain.Errorf(domain.CodeInvalid, "tenant_id is required")
	}
	if _, err := report.ParseDay("from", sh.From); err != nil {
		return report.Share{}, err
	}
	if err := checkBP(sh.BP); err != nil {
		return report.Share{}, err
	}
	return write(ctx, s, func(tx store.Tx) (report.Share, error) {
		t, err := tx.Terms()
		if err != nil {
			return report.Share{}, err
		}
		if err := checkTermsChange(t, sh.From); err != nil {
			return report.Share{}, err
		}
		return sh, tx.SetShare(sh)
	})
}

// SetFee sets a payment method's fee from a local day on. Admin only.
func (s *Service) SetFee(ctx context.Context, p auth.Principal, f report.Fee) (report.Fee, error) {
	if !p.IsAdmin() {
		return report.Fee{}, forbidden("only an admin may set fees")
	}
	m, err := domain.ParseMethod(f.Method)
	if err != nil {
		return report.Fee{}, err
	}
	f.Method = string(m)
	if _, err := report.ParseDay("from", f.From); err != nil {
		return report.Fee{}, err
	}
	if err := checkBP(f.BP); err != nil {
		return report.Fee{}, err
	}
	return write(ctx, s, func(tx store.Tx) (report.Fee, error) {
		t, err := tx.Terms()
		if err != nil {
			return report.Fee{}, err
		}
		if err := checkTermsChange(t, f.From); err != nil {
			return report.Fee{}, err
		}
		return f, tx.SetFee(f)
	})
}

// TermsView is the settlement terms as the API lists them.
type TermsView struct {
	Shares []report.Share  `json:"shares"`
	Fees   []report.Fee    `json:"fees"`
	Closed []report.Period `json:"closed"`
}

// Terms lists the shares, fees and closed periods: all of them for an
// admin, a stall's own shares (with every fee and period) for its token.
func (s *Service) Terms(ctx context.Context, p auth.Principal) (TermsView, error) {
	tenant, err := reportTenant(p, 0)
	if err != nil {
		return TermsView{}, err
	}
	t, err := s.rep.Terms(ctx)
	if err != nil {
		return TermsView{}, err
	}
	v := TermsView{Shares: []report.Share{}, Fees: append([]report.Fee{}, t.Fees...), Closed: append([]report.Period{}, t.Closed...)}
	for _, sh := range t.Shares {
		if tenant == 0 || sh.TenantID == tenant {
			v.Shares = append(v.Shares, sh)
		}
	}
	return v, nil
}
