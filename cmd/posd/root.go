package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/buildinfo"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "posd",
		Short:         "posd — the real-time backbone of a food court: server and terminal clients",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newServeCmd(),
		newWatchCmd(),
		newAlertCmd(),
		newNotifyCmd(),
		newStatsCmd(),
		newNodesCmd(),
		newOrderCmd(),
		newPayCmd(),
		newRefundCmd(),
		newQRCmd(),
		newTokenCmd(),
		newBenchCmd(),
		newDemoCmd(),
		newDisplayCmd(),
		newKasirCmd(),
		newDBCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write([]byte("posd " + buildinfo.String() + "\n"))
			return err
		},
	}
}

// exitError carries a specific process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit codes: 1 for a usage or local error, 2 for a refusal by the server
// (4xx), 3 when the server cannot be reached or fails (5xx).
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
