package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/backend"
)

// Token commands talk to the API (a running server also closes a revoked
// token's connections at once) or, with --db, to the database directly
// (for a stopped server, or to recover a lost admin token).

type tokenTarget struct {
	clientOptions
	db string
}

func (t *tokenTarget) register(cmd *cobra.Command) {
	t.clientOptions.register(cmd, true)
	cmd.Flags().StringVar(&t.db, "db", "", "work on this database file directly instead of through the API")
}

func (t *tokenTarget) tokens(ctx context.Context) (*auth.Tokens, func(), error) {
	// Never create a database by a typo: the token would work nowhere.
	if fi, err := os.Stat(t.db); err != nil || !fi.Mode().IsRegular() {
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("no database at %s (start posd serve --db %s once, or fix the path)", t.db, t.db)}
	}
	st, err := backend.Open(ctx, t.db, store.Options{})
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	return auth.NewTokens(st, nil, nil), func() { st.Close() }, nil
}

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Issue, list and revoke API tokens (admin)"}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var t tokenTarget
	var spec auth.TokenSpec
	var role string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "create --role admin|tenant|kasir|display|user [--tenant N] [--counter N] [--user N] [--display] [--expires 720h]",
		Short: "Issue a token; it is printed once and never again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageErr("%s", domain.ErrorMessage(err))
			}
			spec.Role = r
			if expires < 0 {
				return usageErr("--expires must be positive")
			}
			if expires > 0 {
				spec.ExpiresIn = expires.String()
			}
			var out any
			var secret string
			if t.db != "" {
				toks, done, err := t.tokens(cmd.Context())
				if err != nil {
					return err
				}
				defer done()
				tok, err := toks.Create(cmd.Context(), spec)
				if err != nil {
					return usageErr("%v", err)
				}
				out, secret = tok, tok.Token
			} else {
				c, err := t.client()
				if err != nil {
					return err
				}
				tok, err := c.CreateToken(cmd.Context(), client.TokenRequest{
					Role: role, Name: spec.Label, TenantID: spec.TenantID, CounterID: spec.CounterID,
					UserID: spec.UserID, Display: spec.Display, ExpiresIn: spec.ExpiresIn,
				}, client.WithIdempotencyKey(newIdempotencyKey()))
				if err != nil {
					return apiFailure(err)
				}
				out, secret = tok, tok.Secret
			}
			if t.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintln(cmd.ErrOrStderr(), "posd: store this token now; it cannot be shown again")
			return nil
		},
	}
	t.register(cmd)
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "admin, tenant, kasir, display or user")
	completeFlag(cmd, "role", "admin", "tenant", "kasir", "display", "user")
	f.Int64Var(&spec.TenantID, "tenant", 0, "tenant id (role tenant; optional for display)")
	f.Int64Var(&spec.CounterID, "counter", 0, "counter id (role kasir)")
	f.Int64Var(&spec.UserID, "user", 0, "user id (role user)")
	f.BoolVar(&spec.Display, "display", false, "may follow the display room (role display)")
	f.StringVar(&spec.Label, "name", "", "a note saying whose token this is")
	f.DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h (default: no expiry)")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var t tokenTarget
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rows []store.TokenRow
			if t.db != "" {
				toks, done, err := t.tokens(cmd.Context())
				if err != nil {
					return err
				}
				defer done()
				if rows, err = toks.List(cmd.Context()); err != nil {
					return err
				}
			} else {
				c, err := t.client()
				if err != nil {
					return err
				}
				list, err := c.ListTokens(cmd.Context())
				if err != nil {
					return apiFailure(err)
				}
				for _, k := range list {
					rows = append(rows, store.TokenRow{ID: k.ID, Role: k.Role, TenantID: k.TenantID, CounterID: k.CounterID,
						UserID: k.UserID, Display: k.Display, Label: k.Name, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt})
				}
			}
			if t.json {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			printTokens(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	t.register(cmd)
	return cmd
}

func printTokens(out io.Writer, rows []store.TokenRow) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tROLE\tSCOPE\tNAME\tSTATE")
	for _, r := range rows {
		scope := "-"
		switch {
		case r.TenantID != 0 && r.Display:
			scope = fmt.Sprintf("display, tenant-%d", r.TenantID)
		case r.TenantID != 0:
			scope = fmt.Sprintf("tenant-%d", r.TenantID)
		case r.CounterID != 0:
			scope = fmt.Sprintf("kasir-%d", r.CounterID)
		case r.UserID != 0:
			scope = fmt.Sprintf("user-%d", r.UserID)
		case r.Display:
			scope = "display"
		}
		state := "active"
		switch {
		case r.RevokedAt != nil:
			state = "revoked " + r.RevokedAt.Format(time.RFC3339)
		case r.ExpiresAt != nil && time.Now().After(*r.ExpiresAt):
			state = "expired " + r.ExpiresAt.Format(time.RFC3339)
		case r.ExpiresAt != nil:
			state = "expires " + r.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", r.ID, r.Role, scope, r.Label, state)
	}
	w.Flush()
}

func newTokenRevokeCmd() *cobra.Command {
	var t tokenTarget
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token; a running server closes its connections at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "token id")
			if err != nil {
				return err
			}
			if t.db != "" {
				toks, done, err := t.tokens(cmd.Context())
				if err != nil {
					return err
				}
				defer done()
				if err := toks.Revoke(cmd.Context(), id); err != nil {
					return &exitError{code: 2, err: err}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token %d revoked in %s (a running server refuses it from its next request and closes its sockets within seconds)\n", id, t.db)
				return nil
			}
			c, err := t.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), id); err != nil {
				return apiFailure(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %d revoked; its connections were closed\n", id)
			return nil
		},
	}
	t.register(cmd)
	return cmd
}
