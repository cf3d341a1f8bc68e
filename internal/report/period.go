package report

import (
	"time"

	"github.com/posd/posd/internal/domain"
)

// DayLayout and MonthLayout are how days and months are written.
const (
	DayLayout   = "2006-01-02"
	MonthLayout = "2006-01"
)

// MaxDays is the longest range one report covers: a year and a day.
const MaxDays = 366

// DefaultLate is the age at which the kitchen display turns a ticket red
// (its --late); the speed report counts an order late past the same age.
const DefaultLate = 10 * time.Minute

// Range is a run of local days, From to To inclusive, and the instants it
// spans: [Start, End). Month is set when the range was asked as a month.
type Range struct {
	From, To   string
	Start, End time.Time
	Month      string
}

// Window is what a store reads: [Start, End) of one stall (0: every
// stall).
type Window struct {
	Start, End time.Time
	TenantID   int64
}

// Window is the range's instants for tenantID.
func (r Range) Window(tenantID int64) Window {
	return Window{Start: r.Start, End: r.End, TenantID: tenantID}
}

// Resolve turns a query into local days in loc: Date, From and To, Month,
// or none of them for the day that holds now.
func Resolve(q Query, loc *time.Location, now time.Time) (Range, error) {
	n := 0
	for _, set := range []bool{q.Date != "", q.From != "" || q.To != "", q.Month != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return Range{}, invalid("give one of date, from/to or month")
	}
	var from, to time.Time
	var err error
	switch {
	case q.Month != "":
		m, err := time.Parse(MonthLayout, q.Month)
		if err != nil {
			return Range{}, invalid("month must be YYYY-MM, not %q", q.Month)
		}
		from = m
		to = m.AddDate(0, 1, -1)
	case q.Date != "":
		if from, err = parseDay("date", q.Date); err != nil {
			return Range{}, err
		}
		to = from
	case q.From != "" || q.To != "":
		if q.From == "" || q.To == "" {
			return Range{}, invalid("from and to go together")
		}
		if from, err = parseDay("from", q.From); err != nil {
			return Range{}, err
		}
		if to, err = parseDay("to", q.To); err != nil {
			return Range{}, err
		}
	default:
		y, m, d := now.In(loc).Date()
		from = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		to = from
	}
	if to.Before(from) {
		return Range{}, invalid("to (%s) is before from (%s)", to.Format(DayLayout), from.Format(DayLayout))
	}
	if days := int(to.Sub(from).Hours()/24) + 1; days > MaxDays {
		return Range{}, invalid("a report covers at most %d days, not %d", MaxDays, days)
	}
	r := Range{From: from.Format(DayLayout), To: to.Format(DayLayout), Start: LocalMidnight(from, loc), End: LocalMidnight(to.AddDate(0, 0, 1), loc)}
	if q.Month != "" {
		r.Month = q.Month
	}
	return r, nil
}

// ParseDay reads a local day, YYYY-MM-DD, as midnight UTC of that date;
// field names it in the error.
func ParseDay(field, s string) (time.Time, error) { return parseDay(field, s) }

func parseDay(field, s string) (time.Time, error) {
	d, err := time.Parse(DayLayout, s)
	if err != nil {
		return time.Time{}, invalid("%s must be a date YYYY-MM-DD, not %q", field, s)
	}
	return d, nil
}

// LocalMidnight is the instant the date of d (read in UTC) begins in loc.
// A day that begins in a DST gap begins at the first instant it has.
func LocalMidnight(d time.Time, loc *time.Location) time.Time {
	y, m, day := d.Date()
	return time.Date(y, m, day, 0, 0, 0, 0, loc)
}

// DayRange is [Start, End) of the local days From to To.
func DayRange(from, to string, loc *time.Location) Range {
	f, _ := time.Parse(DayLayout, from)
	t, _ := time.Parse(DayLayout, to)
	return Range{From: from, To: to, Start: LocalMidnight(f, loc), End: LocalMidnight(t.AddDate(0, 0, 1), loc)}
}

// NextDay is the day after day (both YYYY-MM-DD).
func NextDay(day string) string {
	d, _ := time.Parse(DayLayout, day)
	return d.AddDate(0, 0, 1).Format(DayLayout)
}

// PrevDay is the day before day.
func PrevDay(day string) string {
	d, _ := time.Parse(DayLayout, day)
	return d.AddDate(0, 0, -1).Format(DayLayout)
}

func invalid(format string, args ...any) error {
	return domain.Errorf(domain.CodeInvalid, format, args...)
}
