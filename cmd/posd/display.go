package main

import (
	"context"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/tui/display"
	"github.com/posd/posd/tui/widgets"
)

func newDisplayCmd() *cobra.Command {
	var o clientOptions
	var tenant int64
	var warn, late time.Duration
	var noBell bool
	cmd := &cobra.Command{
		Use:   "display [--tenant N]",
		Short: "Kitchen display: open orders by status, live (Bubble Tea)",
		Long: `display shows the open orders in Pending, Preparing and Ready columns and
follows them live. With --tenant it shows one stall (room tenant-N), without it
every stall (room display). Timers count from the order's creation on the
server and turn yellow at --warn and red at --late. Press ? for the keys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant < 0 {
				return usageErr("--tenant must be a positive id")
			}
			if warn <= 0 || late < warn {
				return usageErr("want 0 < --warn ≤ --late")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			cfg := display.Config{
				API:      c,
				TenantID: tenant,
				Warn:     warn,
				Late:     late,
				Subscribe: func(since int64, rooms []string) widgets.Stream {
					return c.Subscribe(ctx, client.StreamOptions{Rooms: rooms, Since: since, MaxBackoff: 5 * time.Second})
				},
			}
			if !noBell {
				cfg.Bell = os.Stderr
			}
			p := tea.NewProgram(display.New(cfg), tea.WithAltScreen(), tea.WithContext(ctx),
				tea.WithInput(cmd.InOrStdin()), tea.WithOutput(cmd.OutOrStdout()))
			_, err = p.Run()
			if err != nil && ctx.Err() != nil {
				return nil // interrupted
			}
			return err
		},
	}
	o.register(cmd, false)
	cmd.Flags().Int64Var(&tenant, "tenant", 0, "show one stall's orders (default: every stall)")
	cmd.Flags().DurationVar(&warn, "warn", 5*time.Minute, "age at which a ticket's timer turns yellow")
	cmd.Flags().DurationVar(&late, "late", 10*time.Minute, "age at which a ticket's timer turns red")
	cmd.Flags().BoolVar(&noBell, "no-bell", false, "do not ring the terminal bell on a new order")
	return cmd
}
