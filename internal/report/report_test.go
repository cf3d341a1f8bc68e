package report

import (
	"slices"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/posd/posd/internal/domain"
)

func TestPercentileNearestRank(t *testing.T) {
	v := []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for _, c := range []struct {
		p    int
		want int64
	}{{50, 50}, {90, 90}, {91, 100}, {100, 100}, {1, 10}} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("p%d = %d; want %d", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 || Percentile([]int64{7}, 90) != 7 {
		t.Error("empty or single-value percentiles")
	}
}

func TestFloorDivRoundsDown(t *testing.T) {
	for _, c := range [][3]int64{{7, 2, 3}, {-7, 2, -4}, {-8, 2, -4}, {0, 3, 0}, {-1, 10000, -1}} {
		if got := floorDiv(c[0], c[1]); got != c[2] {
			t.Errorf("floorDiv(%d, %d) = %d; want %d", c[0], c[1], got, c[2])
		}
	}
}

func TestResolveLocalDays(t *testing.T) {
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	now := time.Date(2026, 12, 4, 18, 30, 0, 0, time.UTC) // 01:30 on the 5th in Jakarta
	r, err := Resolve(Query{}, jkt, now)
	if err != nil || r.From != "2026-12-05" || !r.Start.Equal(time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC)) || r.End.Sub(r.Start) != 24*time.Hour {
		t.Errorf("today = %+v, %v", r, err)
	}
	r, err = Resolve(Query{Month: "2026-02"}, jkt, now)
	if err != nil || r.From != "2026-02-01" || r.To != "2026-02-28" || r.Month != "2026-02" {
		t.Errorf("month = %+v, %v", r, err)
	}
	// A day with a DST change is 23 hours long.
	ny, _ := time.LoadLocation("America/New_York")
	r, err = Resolve(Query{Date: "2026-03-08"}, ny, now)
	if err != nil || r.End.Sub(r.Start) != 23*time.Hour {
		t.Errorf("DST day = %+v (%s), %v", r, r.End.Sub(r.Start), err)
	}
	for _, q := range []Query{
		{Date: "2026-13-01"}, {From: "2026-01-02"}, {From: "2026-01-02", To: "2026-01-01"},
		{From: "2025-01-01", To: "2026-01-02"}, {Date: "2026-01-01", Month: "2026-01"}, {Month: "26-01"},
	} {
		if _, err := Resolve(q, jkt, now); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("Resolve(%+v) = %v; want invalid", q, err)
		}
	}
}

// hoursOf groups buckets by local hour over w's spans, as a store does in
// SQL: (bucket + offset) / 1h.
func hoursOf(w Window, loc *time.Location, buckets []EventBucket) []EventHour {
	var out []EventHour
	for _, sp := range w.LocalSpans(loc) {
		for _, b := range buckets {
			if b.Start >= sp.Start.UnixMilli() && b.Start < sp.End.UnixMilli() {
				h := (b.Start + sp.Offset) / 3600000 * 3600000
				out = append(out, EventHour{Hour: h, Name: b.Name, Count: b.Count})
			}
		}
	}
	return out
}

func TestBucketsFitLocalHours(t *testing.T) {
	at := time.Date(2026, 12, 4, 5, 44, 59, 999e6, time.UTC)
	if got := BucketOf(at); got != time.Date(2026, 12, 4, 5, 30, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("bucket of %s = %s", at, time.UnixMilli(got).UTC())
	}
	// Kathmandu is UTC+5:45: the quarter hour from 05:15 UTC is 11:00–11:15 local.
	ktm, _ := time.LoadLocation("Asia/Kathmandu")
	r := DayRange("2026-12-04", "2026-12-04", ktm)
	w := r.Window(0)
	if sp := w.LocalSpans(ktm); len(sp) != 1 || sp[0].Offset != (5*60+45)*60000 || sp[0].Window != w {
		t.Fatalf("Kathmandu's spans of a day = %+v", sp)
	}
	ev := BuildEvents(r, "Asia/Kathmandu", hoursOf(w, ktm, []EventBucket{
		{Start: time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC).UnixMilli(), Name: "order:created", Count: 1, TenantID: 1},
		{Start: time.Date(2026, 12, 4, 5, 15, 0, 0, time.UTC).UnixMilli(), Name: "order:created", Count: 2, TenantID: 2},
		{Start: time.Date(2026, 12, 4, 5, 30, 0, 0, time.UTC).UnixMilli(), Name: "alert", Count: 1},
		{Start: time.Date(2026, 12, 4, 5, 30, 0, 0, time.UTC).UnixMilli(), Name: "notification", Count: 4},
	}))
	h := ev.Types["order:created"].Hours
	if len(h) != 2 || h[0] != (HourCount{"2026-12-04T10", 1}) || h[1] != (HourCount{"2026-12-04T11", 2}) || ev.PeakHour != "2026-12-04T11" || ev.Alerts != 1 {
		t.Errorf("events = %+v", ev)
	}
	if none := BuildEvents(r, "", nil); none.PeakHour != "" || len(none.Types) != 0 {
		t.Errorf("no events: %+v", none)
	}
}

// A day on which the clocks go back is two spans; its hour from 02:00
// local is lived twice and counts the events of both.
func TestLocalSpansAtTransitions(t *testing.T) {
	ber, _ := time.LoadLocation("Europe/Berlin")
	r := DayRange("2026-10-25", "2026-10-25", ber)
	back := time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC) // 03:00 CEST becomes 02:00 CET
	sp := r.Window(3).LocalSpans(ber)
	if len(sp) != 2 || !sp[0].Start.Equal(r.Start) || !sp[0].End.Equal(back) || sp[0].Offset != 7200000 ||
		!sp[1].Start.Equal(back) || !sp[1].End.Equal(r.End) || sp[1].Offset != 3600000 || sp[1].TenantID != 3 {
		t.Fatalf("spans of 2026-10-25 in Berlin = %+v", sp)
	}
	ev := BuildEvents(r, "Europe/Berlin", hoursOf(r.Window(0), ber, []EventBucket{
		{Start: back.Add(-30 * time.Minute).UnixMilli(), Name: "order:created", Count: 1}, // 02:30 CEST
		{Start: back.Add(30 * time.Minute).UnixMilli(), Name: "order:created", Count: 2},  // 02:30 CET
		{Start: back.Add(90 * time.Minute).UnixMilli(), Name: "order:created", Count: 1},  // 03:30 CET
	}))
	h := ev.Types["order:created"].Hours
	if len(h) != 2 || h[0] != (HourCount{"2026-10-25T02", 3}) || h[1] != (HourCount{"2026-10-25T03", 1}) {
		t.Errorf("hours = %+v", h)
	}
	// A year in a zone without daylight saving time is one span.
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	y := DayRange("2026-01-01", "2026-12-31", jkt)
	if sp := y.Window(0).LocalSpans(jkt); len(sp) != 1 || sp[0].Offset != 7*3600000 {
		t.Errorf("a year in Jakarta = %+v", sp)
	}
	if sp := DayRange("2026-01-01", "2026-12-31", ber).Window(0).LocalSpans(ber); len(sp) != 3 {
		t.Errorf("a year in Berlin = %d spans; want 3", len(sp))
	}
}

func TestSettleSegmentsAndIdentity(t *testing.T) {
	terms := Terms{
		Shares: []Share{{TenantID: 1, From: "2026-11-01", BP: 1000}, {TenantID: 1, From: "2026-11-16", BP: 2500}, {TenantID: 2, From: "2026-11-10", BP: 1500}},
		Fees:   []Fee{{Method: "qris", From: "2026-01-01", BP: 70}},
	}
	r := Range{From: "2026-11-01", To: "2026-11-30"}
	segs := Segments(r, terms)
	want := []string{"2026-11-01..2026-11-09", "2026-11-10..2026-11-15", "2026-11-16..2026-11-30"}
	if len(segs) != len(want) {
		t.Fatalf("segments = %+v", segs)
	}
	for i, s := range segs {
		if s.From+".."+s.To != want[i] {
			t.Errorf("segment %d = %s..%s; want %s", i, s.From, s.To, want[i])
		}
	}
	rows := func(tenant, qris, refund int64) []MoneyRow {
		return []MoneyRow{{TenantID: tenant, Kind: KindPayment, Method: "qris", Amount: qris}, {TenantID: tenant, Kind: KindRefund, Method: "cash", Amount: refund}}
	}
	sums := []SegmentSums{
		{Range: segs[0], Rows: append(rows(1, 100_003, 0), rows(2, 50_001, 0)...)},
		{Range: segs[1], Rows: append(rows(1, 10_007, 0), rows(2, 0, 70_000)...)}, // stall 2 nets below zero
		{Range: segs[2], Rows: rows(1, 33_333, 1)},
	}
	s := Settle(r, "UTC", []Stall{{1, "A"}, {2, "B"}, {3, "C"}}, terms, sums)
	// Stall 1: segments 0 and 1 share terms (10%) and settle as one.
	// qris 110010 → fee ⌊770.07⌋ = 770, commission ⌊109240 × 10%⌋ = 10924;
	// then qris 33333, cash −1: fee ⌊233.331⌋ = 233, commission ⌊33099 × 25%⌋ = 8274.
	a := s.Stalls[0]
	if a.Net != 143_342 || a.Fees != 770+233 || a.Commission != 10924+8274 || a.ShareBP != 2500 {
		t.Errorf("stall 1 = %+v", a)
	}
	// Stall 2: 0% then 15% on −70000: commission ⌊−10500⌋, and the identity holds.
	b := s.Stalls[1]
	if b.Net != -19_999 || b.Commission != -10_500 || b.Fees != 350 {
		t.Errorf("stall 2 = %+v", b)
	}
	for _, st := range append(s.Stalls, StallSettlement{SettlementFigures: s.Total}) {
		if st.Commission+st.Payout+st.Fees != st.Net {
			t.Errorf("%+v does not add up", st)
		}
	}
	if s.Stalls[2] != (StallSettlement{TenantID: 3, Tenant: "C"}) {
		t.Errorf("a stall with nothing = %+v", s.Stalls[2])
	}
}

func TestLateAtTheDisplaysAge(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	min := func(m int64) int64 { return m * 60_000 }
	for _, c := range []struct {
		o    OrderTimes
		want bool
	}{
		{OrderTimes{Created: 0, Ready: min(10)}, false},
		{OrderTimes{Created: 0, Ready: min(10) + 1}, true},
		{OrderTimes{Created: 0, Cancelled: min(5)}, false},
		{OrderTimes{Created: 0, Cancelled: min(15)}, true},
		{OrderTimes{Created: now.UnixMilli() - min(3)}, false},
		{OrderTimes{Created: now.UnixMilli() - min(30)}, true},
	} {
		if got := IsLate(c.o, DefaultLate, now); got != c.want {
			t.Errorf("IsLate(%+v) = %v", c.o, got)
		}
	}
}

// A step no order made reads as an empty cell, not as 0.0 s (instant
// service), and the JSON says over how many orders each step was taken.
func TestSpeedTableLeavesStepsNoOrderMadeEmpty(t *testing.T) {
	p := percentiles([]int64{3000, 1000, 2000})
	if p != (Percentiles{N: 3, P50: 2000, P90: 3000}) {
		t.Fatalf("percentiles = %+v", p)
	}
	sp := Speed{From: "2026-12-04", To: "2026-12-04", Stalls: []StallSpeed{{TenantID: 1, Tenant: "Soto",
		SpeedFigures: SpeedFigures{Orders: 3, ToPreparing: p}}}}
	rows := sp.Table()
	got := rows[1][7:]
	want := []string{"2.0", "3.0", "", "", "", ""}
	if !slices.Equal(got, want) {
		t.Fatalf("step cells = %q; want %q", got, want)
	}
}
