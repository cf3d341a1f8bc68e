package main

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/tui/ops"
	"github.com/posd/posd/tui/widgets"
)

func newOpsCmd() *cobra.Command {
	var o clientOptions
	var late time.Duration
	var exportDir string
	cmd := &cobra.Command{
		Use:   "ops",
		Short: "Operator's console: connections, events, stalls' day, alerts, tokens, reports (Bubble Tea)",
		Long: `ops is the operator's console; it needs an admin token. Live: connections,
rooms and nodes, events per second by type as sparklines, slow-consumer closes,
failing webhooks, and per stall today its orders, net sales, open and late
orders and average time to ready. Actions: send an alert with a severity,
disconnect a room, list and revoke tokens, the sales report of a day and the
settlement of a month, exported as CSV. Press ? for the keys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if late <= 0 {
				return usageErr("--late must be positive")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return runConsole(cmd, c, func(subscribe func(int64, []string) widgets.Stream) tea.Model {
				return ops.New(ops.Config{API: c, Subscribe: subscribe, Late: late, ExportDir: exportDir})
			})
		},
	}
	o.register(cmd, false)
	cmd.Flags().DurationVar(&late, "late", report.DefaultLate, "age at which an open order counts as late (the kitchen display's default)")
	cmd.Flags().StringVar(&exportDir, "export-dir", ".", "directory proposed for CSV exports")
	return cmd
}
