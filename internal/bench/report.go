package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteSummary prints the human summary of a run.
func WriteSummary(w io.Writer, r *Result) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("posd bench — %s protocol against %s (%s, load %s)\n", r.Proto, r.Server, r.StartedAt, r.LoadAvg)
	p("  clients      %d over %d tenants, %d also in display (%.0f deliveries expected per order)\n",
		r.Clients, r.Tenants, r.DisplayClients, r.FanoutPerOrder)
	c := r.Connect
	p("  connect      %d connected, %d failed in %.2fs  (per connection p50 %.1f ms, p99 %.1f ms, max %.1f ms)\n",
		c.Connected, c.Failed, c.Seconds, c.PerConnMS.P50, c.PerConnMS.P99, c.PerConnMS.Max)
	if c.FirstErr != "" {
		p("               first connect error: %s\n", c.FirstErr)
	}
	o := r.Orders
	p("  orders       %d of %d scheduled at %.0f/s accepted (%.1f/s achieved), %d failed; HTTP p50 %.2f ms, p99 %.2f ms; worst send lag %.1f ms\n",
		o.OK, o.Scheduled, r.Rate, o.AchievedPS, o.Failed, o.HTTPMS.P50, o.HTTPMS.P99, o.MaxLagMS)
	if o.Failed > 0 {
		keys := make([]string, 0, len(o.Statuses))
		for k := range o.Statuses {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p("               HTTP %s: %d\n", k, o.Statuses[k])
		}
		p("               first error: %s\n", o.FirstErr)
	}
	d := r.Deliveries
	p("  deliveries   expected %d, received %d (%.0f/s): matched %d, missing %d, duplicated %d, misrouted %d, unmatched %d\n",
		d.Expected, d.Received, d.PerSecond, d.Matched, d.Missing, d.Duplicated, d.Misrouted, d.Unmatched)
	if d.ErrorFrames > 0 || d.Disconnects > 0 || !d.Drained {
		p("               error frames %d, disconnects %d, drained %v\n", d.ErrorFrames, d.Disconnects, d.Drained)
		if d.FirstDiscon != "" {
			p("               first disconnect: %s\n", d.FirstDiscon)
		}
	}
	l := r.LatencyMS
	p("  latency      p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms  (request start → receipt, %d samples)\n",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Count)
	if s := r.Process; s != nil && len(r.Nodes) > 0 {
		p("  servers      %d nodes (%s): %.2f s CPU in all (%.0f%% of a core), %.2f µs CPU per delivery in all\n",
			len(r.Nodes), s.Source, s.CPUSeconds, s.CPUPercent, s.CPUUsPerDelivery)
		for _, n := range r.Nodes {
			who := n.Node
			if n.PID > 0 {
				who += fmt.Sprintf(" (pid %d)", n.PID)
			}
			p("               %s: %.2f s CPU (%.0f%%), %d deliveries to its clients, %.2f µs CPU per delivery; RSS %d KiB connected, %.1f KiB per connection\n",
				who, n.CPUSeconds, n.CPUPercent, n.Deliveries, n.CPUUsPerDelivery, n.RSSConnectedKiB, n.RSSPerConnKiB)
		}
	} else if s != nil {
		who := fmt.Sprintf("pid %d", s.PID)
		if s.Source == "metrics" {
			who = "from its /metrics"
		}
		p("  server       %s: %.2f s CPU (%.0f%% of a core), %.2f µs CPU per delivery\n",
			who, s.CPUSeconds, s.CPUPercent, s.CPUUsPerDelivery)
		p("               RSS %d KiB before, %d KiB connected, %d KiB at end: %.1f KiB per connection\n",
			s.RSSBeforeKiB, s.RSSConnectedKiB, s.RSSEndKiB, s.RSSPerConnKiB)
	}
	if db := r.DB; db != nil {
		mib := func(b int64) float64 { return float64(b) / (1 << 20) }
		p("  database     %s: WAL at most %.1f MiB (%.1f MiB at the end); db %.1f MiB + WAL + shm %.1f MiB = %.1f MiB on disk at the end (at most %.1f MiB); %d samples every %d ms\n",
			db.Path, mib(db.WALMaxBytes), mib(db.WALEndBytes), mib(db.DBEndBytes), mib(db.SHMEndBytes), mib(db.DiskEndBytes), mib(db.DiskMaxBytes), db.Samples, db.IntervalMS)
	}
	p("  bench        %.2f s CPU, %.2f µs CPU per delivery, RSS %d KiB; %s\n",
		r.Bench.CPUSeconds, r.Bench.CPUUsPerDelivery, r.Bench.RSSKiB, readerText(r))
	_, err := io.WriteString(w, b.String())
	return err
}

// Lossless reports whether every expected delivery arrived exactly once and
// nothing went where it should not.
func (r *Result) Lossless() bool {
	d := r.Deliveries
	return d.Missing == 0 && d.Duplicated == 0 && d.Misrouted == 0 && r.Orders.Failed == 0 && r.Connect.Failed == 0
}

// readerText says how the bench read, which bears on the server's figures.
func readerText(r *Result) string {
	switch {
	case r.Reader != ReaderEpoll:
		return r.Reader + " reader, a goroutine per socket"
	case r.PollIntervalUS > 0:
		return fmt.Sprintf("epoll reader on a %d µs tick (receipts seen up to that late)", r.PollIntervalUS)
	default:
		return "epoll reader, woken by every frame"
	}
}
