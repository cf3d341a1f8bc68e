package report

import (
	"encoding/csv"
	"io"
	"slices"
	"strconv"

	"github.com/posd/posd/internal/domain"
)

// Tables: each report as rows of text under a header, for CSV (money as
// plain integer Rupiah) and for people (money as the caller writes it, e.g.
// domain.Rupiah). A total row closes the sales and settlement tables.

// Money writes an amount of Rupiah in a table.
type Money func(int64) string

// Plain is integer Rupiah, as CSV carries it.
func Plain(n int64) string { return strconv.FormatInt(n, 10) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Table is the sales report as rows.
func (s Sales) Table(m Money) [][]string {
	head := []string{"from", "to", "tenant_id", "tenant", "orders", "gross", "refunds", "net"}
	for _, meth := range domain.Methods {
		head = append(head, string(meth))
	}
	head = append(head, "cancelled", "cancelled_value", "avg_ticket")
	row := func(id, name string, f SalesFigures) []string {
		r := []string{s.From, s.To, id, name, itoa(f.Orders), m(f.Gross), m(f.Refunds), m(f.Net)}
		for _, meth := range domain.Methods {
			r = append(r, m(f.ByMethod[string(meth)]))
		}
		return append(r, itoa(f.Cancelled), m(f.CancelledValue), m(f.AvgTicket))
	}
	out := [][]string{head}
	for _, st := range s.Stalls {
		out = append(out, row(itoa(st.TenantID), st.Tenant, st.SalesFigures))
	}
	return append(out, row("", "TOTAL", s.Total))
}

// Table is the speed report as rows: a line per stall (hour "all") and
// one per stall and local hour; durations in seconds.
func (s Speed) Table() [][]string {
	out := [][]string{{"from", "to", "tenant_id", "tenant", "hour", "orders", "late",
		"to_preparing_p50_s", "to_preparing_p90_s", "preparing_to_ready_p50_s", "preparing_to_ready_p90_s",
		"ready_to_collected_p50_s", "ready_to_collected_p90_s"}}
	// A step no order made is an empty cell, not a 0.0 that reads as
	// instant service.
	sec := func(p Percentiles) (string, string) {
		if p.N == 0 {
			return "", ""
		}
		f := func(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) }
		return f(p.P50), f(p.P90)
	}
	row := func(st StallSpeed, hour string, f SpeedFigures) []string {
		r := []string{s.From, s.To, itoa(st.TenantID), st.Tenant, hour, itoa(f.Orders), itoa(f.Late)}
		for _, p := range []Percentiles{f.ToPreparing, f.PreparingToReady, f.ReadyToCollected} {
			p50, p90 := sec(p)
			r = append(r, p50, p90)
		}
		return r
	}
	for _, st := range s.Stalls {
		out = append(out, row(st, "all", st.SpeedFigures))
		for _, h := range st.Hours {
			out = append(out, row(st, strconv.Itoa(h.Hour), h.SpeedFigures))
		}
	}
	return out
}

// Table is the settlement as rows.
func (s Settlement) Table(m Money) [][]string {
	closed := "open"
	if s.Closed {
		closed = "closed"
	}
	out := [][]string{{"from", "to", "period", "tenant_id", "tenant", "share_bp", "net", "fees", "commission", "payout", "prior_refunds"}}
	for _, st := range s.Stalls {
		out = append(out, []string{s.From, s.To, closed, itoa(st.TenantID), st.Tenant, itoa(st.ShareBP),
			m(st.Net), m(st.Fees), m(st.Commission), m(st.Payout), m(st.PriorRefunds)})
	}
	t := s.Total
	return append(out, []string{s.From, s.To, closed, "", "TOTAL", "", m(t.Net), m(t.Fees), m(t.Commission), m(t.Payout), ""})
}

// Table is the event report as rows: one per event type and local hour.
func (e Events) Table() [][]string {
	out := [][]string{{"hour", "type", "count"}}
	names := make([]string, 0, len(e.Types))
	for n := range e.Types {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, h := range e.Types[n].Hours {
			out = append(out, []string{h.Hour, n, itoa(h.Count)})
		}
	}
	return out
}

// WriteCSV writes rows as CSV.
func WriteCSV(w io.Writer, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}
