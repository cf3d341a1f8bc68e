package main

import (
	"context"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/tui/widgets"
)

// runConsole runs a Bubble Tea console full-screen until it quits or the
// command is interrupted. newModel gets the way to open the live stream
// (resuming from an event id, into rooms), tied to the console's lifetime.
func runConsole(cmd *cobra.Command, c *client.Client, newModel func(subscribe func(since int64, rooms []string) widgets.Stream) tea.Model) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	subscribe := func(since int64, rooms []string) widgets.Stream {
		return c.Subscribe(ctx, client.StreamOptions{Rooms: rooms, Since: since, MaxBackoff: 5 * time.Second})
	}
	p := tea.NewProgram(newModel(subscribe), tea.WithAltScreen(), tea.WithContext(ctx),
		tea.WithInput(cmd.InOrStdin()), tea.WithOutput(cmd.OutOrStdout()))
	_, err := p.Run()
	if err != nil && ctx.Err() != nil {
		return nil // interrupted
	}
	return err
}
