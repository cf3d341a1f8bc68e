package main

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/posd/posd/tui/kasir"
	"github.com/posd/posd/tui/widgets"
)

func newKasirCmd() *cobra.Command {
	var o clientOptions
	var counter, float int64
	var shift string
	cmd := &cobra.Command{
		Use:   "kasir --counter N",
		Short: "Cashier console: unpaid orders, payments, refunds, shift summary (Bubble Tea)",
		Long: `kasir shows the live queue of unpaid orders of every stall, takes payments
(cash with change, QRIS, card, e-wallet) and shows the receipt, follows the
counter's payments and refunds, and sums up the shift: count and total per
method and the cash expected in the drawer. Press ? for the keys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if counter <= 0 {
				return usageErr("--counter is required (the kasir counter's id)")
			}
			if float < 0 {
				return usageErr("--float must not be negative")
			}
			var start time.Time
			if shift != "" {
				t, err := parseShiftStart(shift, time.Now())
				if err != nil {
					return usageErr("--shift-start: %v", err)
				}
				start = t
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return runConsole(cmd, c, func(subscribe func(int64, []string) widgets.Stream) tea.Model {
				return kasir.New(kasir.Config{API: c, CounterID: counter, ShiftStart: start, Float: float, Subscribe: subscribe})
			})
		},
	}
	o.register(cmd, false)
	cmd.Flags().Int64Var(&counter, "counter", 0, "the kasir counter's id (required)")
	cmd.Flags().Int64Var(&float, "float", 0, "cash in the drawer when the shift began, in Rupiah")
	cmd.Flags().StringVar(&shift, "shift-start", "", "when the shift began: HH:MM today or an RFC 3339 time (default: now)")
	return cmd
}

// parseShiftStart reads HH:MM (today, local time) or an RFC 3339 time.
func parseShiftStart(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	hm, err := time.ParseInLocation("15:04", s, now.Location())
	if err != nil {
		return time.Time{}, err
	}
	y, mo, d := now.Date()
	return time.Date(y, mo, d, hm.Hour(), hm.Minute(), 0, 0, now.Location()), nil
}
