package report

import (
	"slices"
	"time"
)

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted:
// the smallest value with at least p% of the values at or below it; 0 for
// no values.
func Percentile(sorted []int64, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	return sorted[max(rank, 1)-1]
}

func percentiles(v []int64) Percentiles {
	slices.Sort(v)
	return Percentiles{N: int64(len(v)), P50: Percentile(v, 50), P90: Percentile(v, 90)}
}

// IsLate reports whether an order was late: not ready within late of its
// creation, unless it was cancelled before that deadline (or the deadline
// has not come yet at now). It is when the kitchen display's timer of the
// same --late turned red on the ticket before it went to Ready.
func IsLate(o OrderTimes, late time.Duration, now time.Time) bool {
	deadline := o.Created + late.Milliseconds()
	switch {
	case o.Ready != 0:
		return o.Ready > deadline
	case o.Cancelled != 0:
		return o.Cancelled > deadline
	default:
		return now.UnixMilli() > deadline
	}
}

// speedAcc gathers one stall's (or one hour's) timings.
type speedAcc struct {
	orders, late                 int64
	toPrep, prepReady, readyColl []int64
	toReadySum, toReadyN         int64
}

func (a *speedAcc) add(o OrderTimes, late time.Duration, now time.Time) {
	a.orders++
	if IsLate(o, late, now) {
		a.late++
	}
	if o.Preparing != 0 {
		a.toPrep = append(a.toPrep, o.Preparing-o.Created)
	}
	if o.Ready != 0 && o.Preparing != 0 {
		a.prepReady = append(a.prepReady, o.Ready-o.Preparing)
	}
	if o.Completed != 0 && o.Ready != 0 {
		a.readyColl = append(a.readyColl, o.Completed-o.Ready)
	}
	if o.Ready != 0 {
		a.toReadySum += o.Ready - o.Created
		a.toReadyN++
	}
}

func (a *speedAcc) figures() SpeedFigures {
	return SpeedFigures{
		Orders: a.orders, Late: a.late,
		ToPreparing: percentiles(a.toPrep), PreparingToReady: percentiles(a.prepReady), ReadyToCollected: percentiles(a.readyColl),
	}
}

// BuildSpeed is the speed-of-service report of stalls from the times of
// the orders created in the range. Each step's percentiles are over the
// orders that made that step; an hour is the local hour (0–23) the order
// was created in, over every day of the range.
func BuildSpeed(r Range, tz string, loc *time.Location, stalls []Stall, orders []OrderTimes, late time.Duration, now time.Time) Speed {
	idx := make(map[int64]int, len(stalls))
	all := make([]speedAcc, len(stalls))
	hours := make([][24]*speedAcc, len(stalls))
	for i, s := range stalls {
		idx[s.ID] = i
	}
	for _, o := range orders {
		i, ok := idx[o.TenantID]
		if !ok {
			continue
		}
		all[i].add(o, late, now)
		h := time.UnixMilli(o.Created).In(loc).Hour()
		if hours[i][h] == nil {
			hours[i][h] = &speedAcc{}
		}
		hours[i][h].add(o, late, now)
	}
	out := Speed{TZ: tz, From: r.From, To: r.To, Stalls: make([]StallSpeed, len(stalls))}
	for i, s := range stalls {
		st := StallSpeed{TenantID: s.ID, Tenant: s.Name, SpeedFigures: all[i].figures(), Hours: []HourSpeed{}}
		if all[i].toReadyN > 0 {
			st.AvgToReady = all[i].toReadySum / all[i].toReadyN
		}
		for h, acc := range hours[i] {
			if acc != nil {
				st.Hours = append(st.Hours, HourSpeed{Hour: h, SpeedFigures: acc.figures()})
			}
		}
		out.Stalls[i] = st
	}
	return out
}
