package report

import (
	"slices"
	"time"

	"github.com/posd/posd/internal/domain"
)

// HourLayout is how a local hour is written: "2026-12-04T12".
const HourLayout = "2006-01-02T15"

// BuildEvents is the event report from the counts per local hour, as a
// store sums them over each LocalSpan of the range. A store reading one
// stall's counts includes the alerts, which went to every screen, its own
// included; an hour seen twice (when the clocks go back) is counted once,
// with the events of both.
func BuildEvents(r Range, tz string, hours []EventHour) Events {
	out := Events{TZ: tz, From: r.From, To: r.To, Types: map[string]EventCount{}}
	perType := map[string]map[int64]int64{}
	perHour := map[int64]int64{}
	for _, h := range hours {
		if perType[h.Name] == nil {
			perType[h.Name] = map[int64]int64{}
		}
		perType[h.Name][h.Hour] += h.Count
		perHour[h.Hour] += h.Count
		if h.Name == domain.EventAlert {
			out.Alerts += h.Count
		}
	}
	label := func(h int64) string { return time.UnixMilli(h).UTC().Format(HourLayout) }
	for name, hs := range perType {
		ec := EventCount{Hours: make([]HourCount, 0, len(hs))}
		keys := make([]int64, 0, len(hs))
		for h, n := range hs {
			ec.Total += n
			keys = append(keys, h)
		}
		slices.Sort(keys)
		for _, h := range keys {
			ec.Hours = append(ec.Hours, HourCount{Hour: label(h), Count: hs[h]})
		}
		out.Types[name] = ec
	}
	var peak, peakHour int64
	for h, n := range perHour {
		if n > peak || (n == peak && h < peakHour) {
			peak, peakHour = n, h
		}
	}
	if peak > 0 {
		out.PeakHour = label(peakHour)
	}
	return out
}
