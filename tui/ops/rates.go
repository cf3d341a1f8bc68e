package ops

import "time"

// rateWindow is how many seconds of event counts the console keeps: more
// than the widest sparkline a terminal shows beside the names.
const rateWindow = 180

// rates counts the events the console receives per type and second, in one
// ring per type: slot s%rateWindow holds second s. Seconds are the
// console's clock at arrival, not the events' timestamps: a replay after a
// reconnect is counted when it arrives, as the load it puts on the court's
// screens.
type rates struct {
	newest int64 // unix second of the newest slot in use
	counts map[string]*[rateWindow]int
}

func newRates(names []string) *rates {
	r := &rates{counts: map[string]*[rateWindow]int{}}
	for _, n := range names {
		r.counts[n] = new([rateWindow]int)
	}
	return r
}

// advance clears the slots of the seconds between the newest one and now.
// A clock that stepped back leaves the counts where they are: they land in
// the newest slot until the clock catches up.
func (r *rates) advance(now time.Time) int64 {
	s := now.Unix()
	if r.newest == 0 {
		r.newest = s
		return s
	}
	if s <= r.newest {
		return r.newest
	}
	for t := r.newest + 1; t <= s && t <= r.newest+rateWindow; t++ {
		for _, c := range r.counts {
			c[t%rateWindow] = 0
		}
	}
	r.newest = s
	return s
}

// add counts one event of type name at now; unknown types are not counted.
func (r *rates) add(name string, now time.Time) {
	c, ok := r.counts[name]
	if !ok {
		return
	}
	s := r.advance(now)
	c[s%rateWindow]++
}

// series is the last n seconds' counts of name up to now, oldest first.
func (r *rates) series(name string, n int, now time.Time) []int {
	n = min(n, rateWindow)
	out := make([]int, n)
	c, ok := r.counts[name]
	if !ok {
		return out
	}
	s := r.advance(now)
	for i := range n {
		out[n-1-i] = c[(s-int64(i))%rateWindow]
	}
	return out
}

// perMinute is how many events of name arrived in the last 60 s.
func (r *rates) perMinute(name string, now time.Time) int {
	total := 0
	for _, v := range r.series(name, 60, now) {
		total += v
	}
	return total
}
