package main

import (
	"context"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/client"
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
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			cfg := kasir.Config{
				API:        c,
				CounterID:  counter,
				ShiftStart: start,
				Float:      float,
				Subscribe: func(since int64, rooms []string) widgets.Stream {
					return c.Subscribe(ctx, client.StreamOptions{Rooms: rooms, Since: since, MaxBackoff: 5 * time.Second})
				},
			}
			p := tea.NewProgram(kasir.New(cfg), tea.WithAltScreen(), tea.WithContext(ctx),
				tea.WithInput(cmd.InOrStdin()), tea.WithOutput(cmd.OutOrStdout()))
			_, err = p.Run()
			if err != nil && ctx.Err() != nil {
				return nil
			}
			return err
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
