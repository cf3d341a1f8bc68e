package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// reportFlags are the flags every report shares.
type reportFlags struct {
	clientOptions
	q   report.Query
	csv bool
}

func (f *reportFlags) register(cmd *cobra.Command, month bool) {
	f.clientOptions.register(cmd, true)
	fl := cmd.Flags()
	fl.Int64Var(&f.q.TenantID, "tenant", 0, "one stall (a stall's token reads its own)")
	fl.StringVar(&f.q.Date, "date", "", "one local day, YYYY-MM-DD (default: today in the server's --tz)")
	fl.StringVar(&f.q.From, "from", "", "first local day, YYYY-MM-DD (with --to)")
	fl.StringVar(&f.q.To, "to", "", "last local day, YYYY-MM-DD, inclusive")
	if month {
		fl.StringVar(&f.q.Month, "month", "", "a month of local days, YYYY-MM")
	}
	fl.BoolVar(&f.csv, "csv", false, "print CSV (money as integer Rupiah)")
	cmd.MarkFlagsMutuallyExclusive("csv", "json")
}

// print shows v: JSON, CSV or a table for people.
func (f *reportFlags) print(w io.Writer, v any, csvRows, human [][]string, foot string) error {
	switch {
	case f.json:
		return printJSON(w, v)
	case f.csv:
		return report.WriteCSV(w, csvRows)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range human {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if foot != "" {
		fmt.Fprintln(w, foot)
	}
	return nil
}

// runReport fetches one report and prints it.
func runReport[T any](cmd *cobra.Command, f *reportFlags, get func(context.Context, *client.Client) (T, error), show func(io.Writer, T) error) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	v, err := get(cmd.Context(), c)
	if err != nil {
		return apiFailure(err)
	}
	return show(cmd.OutOrStdout(), v)
}

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "The day's numbers: sales, speed of service, settlement, events; closing a month",
		Long: `report prints the food court's numbers over local days in the server's zone
(posd serve --tz): one --date, --from and --to (inclusive), or --month; today by default.
The admin reads every stall (or --tenant N); a stall's token reads its own.
Money is integer Rupiah (with --csv and --json) or Rp 12.345 in the tables.`,
	}
	cmd.AddCommand(newReportSalesCmd(), newReportSpeedCmd(), newReportSettlementCmd(), newReportEventsCmd(), newReportCloseCmd())
	return cmd
}

func newReportSalesCmd() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "sales",
		Short: "Sales per stall: orders, gross, refunds, net by payment method, cancellations, average ticket",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd, &f, func(ctx context.Context, c *client.Client) (report.Sales, error) {
				return c.SalesReport(ctx, f.q)
			}, func(w io.Writer, s report.Sales) error {
				return f.print(w, s, s.Table(report.Plain), s.Table(domain.Rupiah), "local days in "+s.TZ)
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

func newReportSpeedCmd() *cobra.Command {
	var f reportFlags
	var late time.Duration
	cmd := &cobra.Command{
		Use:   "speed",
		Short: "Speed of service per stall and hour: order → preparing → ready → collected (p50/p90), late orders",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if late < 0 {
				return usageErr("--late must be positive")
			}
			return runReport(cmd, &f, func(ctx context.Context, c *client.Client) (report.Speed, error) {
				return c.SpeedReportLate(ctx, f.q, late)
			}, func(w io.Writer, s report.Speed) error {
				t := s.Table()
				return f.print(w, s, t, t, "seconds; hours are local ("+s.TZ+"); late: not ready within --late of the order")
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().DurationVar(&late, "late", report.DefaultLate, "an order not ready within this long of its creation is late (the display's --late)")
	return cmd
}

func newReportSettlementCmd() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "settlement",
		Short: "Revenue-share settlement: net, fees, commission, payout per stall (commission + payout + fees = net)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd, &f, func(ctx context.Context, c *client.Client) (report.Settlement, error) {
				return c.SettlementReport(ctx, f.q)
			}, func(w io.Writer, s report.Settlement) error {
				foot := "open: figures may still change"
				if s.Closed {
					foot = "closed: these figures are final"
				}
				return f.print(w, s, s.Table(report.Plain), s.Table(domain.Rupiah), foot)
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

func newReportEventsCmd() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Events per type and local hour, the peak hour and the alerts sent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd, &f, func(ctx context.Context, c *client.Client) (report.Events, error) {
				return c.EventsReport(ctx, f.q)
			}, func(w io.Writer, e report.Events) error {
				t := e.Table()
				return f.print(w, e, t, t, fmt.Sprintf("peak hour %s; %d alerts sent", orNone(e.PeakHour), e.Alerts))
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func newReportCloseCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "close YYYY-MM",
		Short: "Close a month that has ended: its settlement is final, and no share or fee may change within it (admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := time.Parse(report.MonthLayout, args[0]); err != nil {
				return usageErr("the month is YYYY-MM, not %q", args[0])
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (report.Settlement, error) {
				return c.ClosePeriod(ctx, args[0], writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, s report.Settlement) {
				fmt.Fprintf(w, "closed %s (%s to %s): net %s, fees %s, commission %s, payout %s\n", args[0], s.From, s.To,
					domain.Rupiah(s.Total.Net), domain.Rupiah(s.Total.Fees), domain.Rupiah(s.Total.Commission), domain.Rupiah(s.Total.Payout))
			})
		},
	}
	o.register(cmd, true)
	return cmd
}

// parsePercent reads a percentage with at most two decimals ("15",
// "0.7", "12.25") as basis points, without floating point.
func parsePercent(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 || whole == "" && frac == "" {
		return 0, fmt.Errorf("--percent takes at most two decimals, not %q", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	if whole == "" {
		whole = "0"
	}
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || w < 0 || f < 0 || w > 100 {
		return 0, fmt.Errorf("--percent must be 0 to 100, not %q", s)
	}
	return w*100 + f, nil
}

// bpFlags are --percent or --bp, and --from.
type bpFlags struct {
	percent string
	bp      int64
	from    string
}

func (b *bpFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&b.percent, "percent", "", "in percent, e.g. 15 or 0.7")
	cmd.Flags().Int64Var(&b.bp, "bp", -1, "in basis points (1500 is 15%)")
	cmd.Flags().StringVar(&b.from, "from", "", "the local day it applies from, YYYY-MM-DD (not in a closed period)")
	cmd.MarkFlagsMutuallyExclusive("percent", "bp")
}

// value is the basis points asked for; set is false when neither flag was.
func (b *bpFlags) value() (bp int64, set bool, err error) {
	switch {
	case b.percent != "":
		bp, err = parsePercent(b.percent)
		if err != nil {
			return 0, true, usageErr("%v", err)
		}
		return bp, true, nil
	case b.bp >= 0:
		return b.bp, true, nil
	}
	return 0, false, nil
}

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "A stall's settlement terms: its revenue share, the payment fees"}
	cmd.AddCommand(newTenantShareCmd(), newTenantFeeCmd())
	return cmd
}

func newTenantShareCmd() *cobra.Command {
	var o clientOptions
	var b bpFlags
	cmd := &cobra.Command{
		Use:   "share TENANT [--percent P | --bp N] --from YYYY-MM-DD",
		Short: "Set a stall's revenue share from a day on, or list its history (admin sets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "tenant id")
			if err != nil {
				return err
			}
			bp, set, err := b.value()
			if err != nil {
				return err
			}
			if !set {
				return call(cmd, &o, func(ctx context.Context, c *client.Client) ([]report.Share, error) {
					t, err := c.SettlementTerms(ctx)
					var mine []report.Share
					for _, s := range t.Shares {
						if s.TenantID == id {
							mine = append(mine, s)
						}
					}
					return mine, err
				}, func(w io.Writer, shares []report.Share) {
					if len(shares) == 0 {
						fmt.Fprintf(w, "tenant %d has no share set: its commission is 0\n", id)
					}
					for _, s := range shares {
						fmt.Fprintf(w, "from %s: %s\n", s.From, bpText(s.BP))
					}
				})
			}
			if b.from == "" {
				return usageErr("--from is required with --percent or --bp")
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (report.Share, error) {
				return c.SetShare(ctx, id, b.from, bp, writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, s report.Share) {
				fmt.Fprintf(w, "tenant %d's share is %s from %s\n", s.TenantID, bpText(s.BP), s.From)
			})
		},
	}
	o.register(cmd, true)
	b.register(cmd)
	return cmd
}

func newTenantFeeCmd() *cobra.Command {
	var o clientOptions
	var b bpFlags
	var method string
	cmd := &cobra.Command{
		Use:   "fee --method M (--percent P | --bp N) --from YYYY-MM-DD",
		Short: "Set a payment method's fee (e.g. the QRIS merchant discount rate) from a day on (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bp, set, err := b.value()
			if err != nil {
				return err
			}
			if !set || b.from == "" || method == "" {
				return usageErr("--method, --from and --percent or --bp are required")
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (report.Fee, error) {
				return c.SetFee(ctx, method, b.from, bp, writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, f report.Fee) {
				fmt.Fprintf(w, "the %s fee is %s from %s\n", f.Method, bpText(f.BP), f.From)
			})
		},
	}
	o.register(cmd, true)
	b.register(cmd)
	cmd.Flags().StringVar(&method, "method", "", "cash, qris, card or ewallet")
	completeFlag(cmd, "method", methodNames()...)
	return cmd
}

// bpText writes basis points as a percentage: 1500 → "15%", 70 → "0.70%".
func bpText(bp int64) string {
	if bp%100 == 0 {
		return fmt.Sprintf("%d%% (%d bp)", bp/100, bp)
	}
	return fmt.Sprintf("%d.%02d%% (%d bp)", bp/100, bp%100, bp)
}
