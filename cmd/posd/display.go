package main

import (
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/report"
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
			return runConsole(cmd, c, func(subscribe func(int64, []string) widgets.Stream) tea.Model {
				cfg := display.Config{API: c, TenantID: tenant, Warn: warn, Late: late, Subscribe: subscribe}
				if !noBell {
					cfg.Bell = os.Stderr
				}
				return display.New(cfg)
			})
		},
	}
	o.register(cmd, false)
	cmd.Flags().Int64Var(&tenant, "tenant", 0, "show one stall's orders (default: every stall)")
	cmd.Flags().DurationVar(&warn, "warn", display.DefaultWarn, "age at which a ticket's timer turns yellow")
	cmd.Flags().DurationVar(&late, "late", report.DefaultLate, "age at which a ticket's timer turns red")
	cmd.Flags().BoolVar(&noBell, "no-bell", false, "do not ring the terminal bell on a new order")
	return cmd
}
