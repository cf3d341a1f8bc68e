package main

import (
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/buildinfo"
	"github.com/posd/posd/internal/client"
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
		newWebhookCmd(),
		newOrderCmd(),
		newPayCmd(),
		newRefundCmd(),
		newQRCmd(),
		newTokenCmd(),
		newBenchCmd(),
		newDemoCmd(),
		newDisplayCmd(),
		newKasirCmd(),
		newOpsCmd(),
		newDBCmd(),
		newReportCmd(),
		newTenantCmd(),
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
	code  int
	err   error
	cause error // what the client returned, for --json
}

// errorLine is what main prints on stderr when cmd failed. A command run
// with --json fails in JSON too, so a script reads one format: the server's
// error (code, message, details, status) plus the exit code and the sentence
// a person would have read.
func errorLine(cmd *cobra.Command, err error) string {
	if cmd == nil {
		return "posd: " + err.Error()
	}
	if f := cmd.Flags().Lookup("json"); f == nil || f.Value.String() != "true" {
		return "posd: " + err.Error()
	}
	var body struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details,omitempty"`
			Status  int            `json:"status,omitempty"`
			Text    string         `json:"text"`
			Exit    int            `json:"exit"`
		} `json:"error"`
	}
	e := &body.Error
	e.Code, e.Message, e.Text, e.Exit = "invalid_invocation", err.Error(), err.Error(), exitCode(err)
	var ee *exitError
	var apiErr *client.APIError
	switch {
	case errors.As(err, &ee) && errors.As(ee.cause, &apiErr):
		e.Code, e.Message, e.Details, e.Status = apiErr.Code, apiErr.Message, apiErr.Details, apiErr.Status
	case errors.As(err, &ee) && ee.code == 3:
		e.Code = "unreachable"
	}
	line, jerr := json.Marshal(body)
	if jerr != nil {
		return "posd: " + err.Error()
	}
	return string(line)
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
