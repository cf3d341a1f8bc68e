package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
)

// YearCourt is the benchmarks' court: a year of a busy 20-stall food
// court, about a million orders (2,740 a day), from 2025-12-01 in
// Asia/Jakarta. orders 0 keeps the million.
func YearCourt(orders int) CourtSpec {
	if orders <= 0 {
		orders = 1_000_000
	}
	loc, _ := time.LoadLocation("Asia/Jakarta")
	return CourtSpec{Seed: 2026, Stalls: 20, Orders: orders, Start: time.Date(2025, 12, 1, 0, 0, 0, 0, loc), Days: 365}
}

// reportService is a service over st counting days in the court's zone,
// its clock at the end of the court's year.
func reportService(tb testing.TB, st store.Store, spec CourtSpec) *service.Service {
	tb.Helper()
	end := spec.Start.AddDate(0, 0, spec.Days+7)
	svc, err := service.NewWithConfig(st, service.Config{Location: spec.Start.Location(), Now: func() time.Time { return end }})
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// SetCourtTerms gives every stall a share, one a change mid-June, and
// QRIS and card their fees: a settlement of June 2026 has segments.
func SetCourtTerms(tb testing.TB, st store.Store, spec CourtSpec) {
	tb.Helper()
	svc, ctx := reportService(tb, st, spec), context.Background()
	t, err := st.Terms(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if len(t.Shares) > 0 {
		return // a court loaded before
	}
	for id := int64(1); id <= int64(spec.Stalls); id++ {
		if _, err := svc.SetShare(ctx, auth.Anonymous, report.Share{TenantID: id, From: "2025-12-01", BP: 1000 + 50*id}); err != nil {
			tb.Fatal(err)
		}
	}
	steps := []any{report.Share{TenantID: 1, From: "2026-06-16", BP: 2000}, report.Fee{Method: "qris", From: "2025-12-01", BP: 70}, report.Fee{Method: "card", From: "2026-06-10", BP: 150}}
	for _, s := range steps {
		switch v := s.(type) {
		case report.Share:
			_, err = svc.SetShare(ctx, auth.Anonymous, v)
		case report.Fee:
			_, err = svc.SetFee(ctx, auth.Anonymous, v)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkReports times each report, through the service as the API
// calls it, on a store holding spec's court: a day and a month (June
// 2026, with a share and a fee changing in it) of sales, speed and
// events, and the month's settlement. ms/report is the figure to quote.
func BenchmarkReports(b *testing.B, st store.Store, spec CourtSpec) {
	svc := reportService(b, st, spec)
	ctx := context.Background()
	day := report.Query{Date: "2026-06-17"}
	month := report.Query{Month: "2026-06"}
	one := report.Query{Month: "2026-06", TenantID: 7}
	cases := []struct {
		name string
		run  func() error
	}{
		{"sales/day", func() error { _, err := svc.SalesReport(ctx, auth.Anonymous, day); return err }},
		{"sales/month", func() error { _, err := svc.SalesReport(ctx, auth.Anonymous, month); return err }},
		{"sales/month-one-stall", func() error { _, err := svc.SalesReport(ctx, auth.Anonymous, one); return err }},
		{"speed/day", func() error { _, err := svc.SpeedReport(ctx, auth.Anonymous, day, 0); return err }},
		{"speed/month", func() error { _, err := svc.SpeedReport(ctx, auth.Anonymous, month, 0); return err }},
		{"settlement/month", func() error { _, err := svc.SettlementReport(ctx, auth.Anonymous, month); return err }},
		{"events/day", func() error { _, err := svc.EventsReport(ctx, auth.Anonymous, day); return err }},
		{"events/month", func() error { _, err := svc.EventsReport(ctx, auth.Anonymous, month); return err }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/report")
		})
	}
}

// CheckCourt checks the reports over a loaded court against what the
// generator wrote: every stall's net over the whole run, the orders paid
// and the cancellations, and the settlement's identity each month.
func CheckCourt(t *testing.T, st store.Store, spec CourtSpec, tot CourtTotals) {
	t.Helper()
	svc, ctx := reportService(t, st, spec), context.Background()
	last := spec.Start.AddDate(0, 0, spec.Days+4) // late refunds included
	q := report.Query{From: spec.Start.Format(report.DayLayout), To: last.Format(report.DayLayout)}
	sales, err := svc.SalesReport(ctx, auth.Anonymous, q)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sales.Stalls {
		if s.Net != tot.Net[s.TenantID] {
			t.Errorf("stall %d nets %d; the generator wrote %d", s.TenantID, s.Net, tot.Net[s.TenantID])
		}
	}
	if sales.Total.Cancelled != tot.Cancelled {
		t.Errorf("%d cancelled; the generator cancelled %d", sales.Total.Cancelled, tot.Cancelled)
	}
	speed, err := svc.SpeedReport(ctx, auth.Anonymous, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var orders int64
	for _, s := range speed.Stalls {
		orders += s.Orders
	}
	if orders != tot.Orders {
		t.Errorf("speed counts %d orders; the generator made %d", orders, tot.Orders)
	}
	for m := spec.Start; m.Before(last); m = m.AddDate(0, 1, 0) {
		set, err := svc.SettlementReport(ctx, auth.Anonymous, report.Query{Month: m.Format(report.MonthLayout)})
		if err != nil {
			t.Fatal(err)
		}
		if x := set.Total; x.Commission+x.Payout+x.Fees != x.Net || x.Net == 0 {
			t.Errorf("%s: settlement %+v", m.Format(report.MonthLayout), x)
		}
	}
	ev, err := svc.EventsReport(ctx, auth.Anonymous, report.Query{Date: spec.Start.AddDate(0, 0, 10).Format(report.DayLayout)})
	if err != nil || ev.Types["order:created"].Total == 0 || ev.PeakHour == "" {
		t.Errorf("events of day 10: %+v, %v", ev, err)
	}
}
