package report

import (
	"sort"
	"time"

	"github.com/posd/posd/internal/domain"
)

// HourLayout is how a local hour is written: "2026-12-04T12".
const HourLayout = "2006-01-02T15"

// BuildEvents is the event report from quarter-hour counts, by local hour.
// For one stall (tenantID > 0) it counts that stall's events and the
// alerts, which went to every screen, its own included; buckets of other
// stalls, and other events of no one stall, are left out.
func BuildEvents(r Range, tz string, loc *time.Location, buckets []EventBucket, tenantID int64) Events {
	out := Events{TZ: tz, From: r.From, To: r.To, Types: map[string]EventCount{}}
	perType := map[string]map[string]int64{}
	perHour := map[string]int64{}
	hourOf := map[int64]string{} // a bucket's rows (one per stall and type) come together
	for _, b := range buckets {
		if tenantID != 0 && b.TenantID != tenantID && (b.TenantID != 0 || b.Name != domain.EventAlert) {
			continue
		}
		h, ok := hourOf[b.Start]
		if !ok {
			h = time.UnixMilli(b.Start).In(loc).Format(HourLayout)
			hourOf[b.Start] = h
		}
		if perType[b.Name] == nil {
			perType[b.Name] = map[string]int64{}
		}
		perType[b.Name][h] += b.Count
		perHour[h] += b.Count
		if b.Name == domain.EventAlert {
			out.Alerts += b.Count
		}
	}
	for name, hours := range perType {
		ec := EventCount{Hours: make([]HourCount, 0, len(hours))}
		for h, n := range hours {
			ec.Total += n
			ec.Hours = append(ec.Hours, HourCount{Hour: h, Count: n})
		}
		sort.Slice(ec.Hours, func(i, j int) bool { return ec.Hours[i].Hour < ec.Hours[j].Hour })
		out.Types[name] = ec
	}
	var peak int64
	for h, n := range perHour {
		if n > peak || (n == peak && h < out.PeakHour) {
			peak, out.PeakHour = n, h
		}
	}
	return out
}
