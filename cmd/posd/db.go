package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/posd/posd/store/backend"
	"github.com/posd/posd/store/dbcopy"
)

func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Database tools: move a SQLite database to PostgreSQL",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newDBCopyCmd())
	return cmd
}

func newDBCopyCmd() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "copy --from posd.db --to postgres://…",
		Short: "Copy a SQLite database into an empty PostgreSQL one, keeping every id",
		Long: `copy moves posd from its SQLite file to PostgreSQL, the step to several nodes.
Every row keeps its id, so clients resume with the same since offsets and tokens
(and the admin token file) stay valid; new events, orders and payments continue
after the copied ones. Stop posd on the SQLite file first: what it writes after
the copy began is not copied.

The target is migrated first and must be empty (no tenant, order, token or
event): otherwise nothing is written. The copy is one transaction: if it fails,
the target is left as it was. Progress goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return errors.New("--from (the SQLite file) and --to (a postgres:// URL) are both required")
			}
			if backend.IsPostgres(from) {
				return errors.New("--from must be a SQLite file: copying from PostgreSQL is not supported")
			}
			if !backend.IsPostgres(to) {
				return fmt.Errorf("--to must be a postgres:// or postgresql:// URL, not %q", to)
			}
			stderr := cmd.ErrOrStderr()
			fmt.Fprintf(stderr, "posd: copying %s into %s\n", from, backend.Redact(to))
			rep, err := dbcopy.SQLiteToPostgres(cmd.Context(), from, to, dbcopy.Options{Progress: stderr})
			if err != nil {
				return err
			}
			var rows int64
			for _, t := range rep.Tables {
				rows += t.Rows
			}
			fmt.Fprintf(stderr, "posd: copied %d rows in %d tables in %v; the log continues after event %d. Start posd with --db %s\n",
				rows, len(rep.Tables), rep.Elapsed.Round(1e6), rep.LastEventID, backend.Redact(to))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the SQLite database file to copy")
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL database to copy into, as a postgres:// URL")
	return cmd
}
