package report

import "time"

// The rows a store hands the reports: sums and times read with indexed
// SQL, which this package turns into the reports. Times are unix
// milliseconds (UTC); a zero time means the order never got there.

// MoneyRow sums one stall's successful payments or refunds of one method
// over a range of time, by their own time. Prior is the part of a refund
// sum whose payments were taken before the range began.
type MoneyRow struct {
	TenantID int64
	Kind     string // "payment" or "refund"
	Method   string
	Count    int64
	Amount   int64
	Prior    int64
	Segment  int // of the cuts a store was given (0 without)
}

// CancelRow counts one stall's orders cancelled over a range of time, by
// the time of the cancellation, and their value (order totals).
type CancelRow struct {
	TenantID int64
	Count    int64
	Value    int64
}

// OrderTimes is when one order reached each status.
type OrderTimes struct {
	TenantID  int64
	Created   int64
	Preparing int64
	Ready     int64
	Completed int64
	Cancelled int64
}

// EventBucket counts the events of one name and stall (0: of no one
// stall) appended in the quarter hour that starts at Start (unix ms): the
// counts kept beside the log.
type EventBucket struct {
	Start    int64
	TenantID int64
	Name     string
	Count    int64
}

// EventHour counts the events of one name in one local hour. Hour is the
// hour's start as a local clock reads it, in unix ms as if the zone were
// UTC: a store adds a LocalSpan's offset to the buckets and groups them.
type EventHour struct {
	Hour  int64
	Name  string
	Count int64
}

// LocalSpan is a part of a window in which the zone's offset from UTC
// (Offset, in ms east) does not change: within it, a bucket's local hour
// is (Start + Offset) / 1h.
type LocalSpan struct {
	Window
	Offset int64
}

// LocalSpans cuts w at loc's transitions (daylight saving time, a change
// of the zone's standard offset): one span in most windows, and at most a
// few in a year.
func (w Window) LocalSpans(loc *time.Location) []LocalSpan {
	var out []LocalSpan
	for start := w.Start; start.Before(w.End); {
		_, off := start.In(loc).Zone()
		_, next := start.In(loc).ZoneBounds()
		end := w.End
		if !next.IsZero() && next.Before(end) {
			end = next
		}
		out = append(out, LocalSpan{Window: Window{Start: start, End: end, TenantID: w.TenantID}, Offset: int64(off) * 1000})
		start = end
	}
	return out
}

// BucketSize is the span of an EventBucket. Every time zone's offset is a
// whole number of quarter hours, so a bucket lies in one local hour.
const BucketSize = 15 * time.Minute

// BucketOf is the start of the bucket t falls in, in unix ms.
func BucketOf(t time.Time) int64 {
	ms := t.UnixMilli()
	size := BucketSize.Milliseconds()
	return ms - ((ms%size)+size)%size
}

// Share is a stall's revenue share in basis points from a local date on.
type Share struct {
	TenantID int64  `json:"tenant_id"`
	From     string `json:"from"`
	BP       int64  `json:"bp"`
}

// Fee is a payment method's fee in basis points from a local date on.
type Fee struct {
	Method string `json:"method"`
	From   string `json:"from"`
	BP     int64  `json:"bp"`
}

// Period is a closed settlement period: a month of local days.
type Period struct {
	Month string `json:"month"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Terms are what a settlement is computed with: every share and fee ever
// set, and the periods closed so far.
type Terms struct {
	Shares []Share
	Fees   []Fee
	Closed []Period
}

// ClosedThrough is the last local day of a closed period ("" when none is
// closed): a share or fee may only change from a later day.
func (t Terms) ClosedThrough() string {
	last := ""
	for _, p := range t.Closed {
		last = max(last, p.To)
	}
	return last
}

// Closed is a closed period as stored: its settlement at the close, as the
// JSON the API sends, which the period reports from then on.
type Closed struct {
	Period
	TZ       string
	ClosedAt time.Time
	Snapshot []byte
}
