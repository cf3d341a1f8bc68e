package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
)

func newWebhookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Send events to other systems over HTTPS, signed (Standard Webhooks) and in order (admin, or a stall's token for its stall)",
	}
	cmd.AddCommand(newWebhookAddCmd(), newWebhookListCmd(), newWebhookRemoveCmd(),
		newWebhookStateCmd("pause", "Stop delivering to an endpoint; its events wait in the log", (*client.Client).PauseWebhook),
		newWebhookStateCmd("resume", "Deliver on from where the endpoint stopped (a paused or disabled one)", (*client.Client).ResumeWebhook),
		newWebhookTestCmd(), newWebhookDeliveriesCmd(), newWebhookReplayCmd())
	return cmd
}

func newWebhookAddCmd() *cobra.Command {
	var o clientOptions
	var req client.WebhookRequest
	var idemKey string
	cmd := &cobra.Command{
		Use:   "add --url https://… [--event NAME]... [--tenant ID] [--idempotency-key KEY]",
		Short: "Register an endpoint; it gets events committed from now on. Prints its secret, once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.URL == "" {
				return usageErr("--url is required")
			}
			if idemKey == "" {
				idemKey = newIdempotencyKey()
			}
			return unsure(call(cmd, &o, func(ctx context.Context, c *client.Client) (client.Webhook, error) {
				return c.AddWebhook(ctx, req, writeOpts(idemKey)...)
			}, func(w io.Writer, h client.Webhook) {
				fmt.Fprintf(w, "webhook %d added: %s\nsecret (shown once; receivers verify signatures with it):\n%s\n", h.ID, h.URL, h.Secret)
			}), idemKey)
		},
	}
	o.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&idemKey, "idempotency-key", "", "key to make a retry of this exact command add one endpoint (default: a fresh one)")
	f.StringVar(&req.URL, "url", "", "the endpoint (https://…; http and private addresses only if the server allows them)")
	f.StringArrayVar(&req.Events, "event", nil, "an event name to send (repeatable; default every event)")
	f.Int64Var(&req.TenantID, "tenant", 0, "only this stall's events (a stall's token: always its own)")
	completeFlag(cmd, "event", domain.EventNames...)
	return cmd
}

// idempotencyFlag adds --idempotency-key to a webhook write; key gives its
// value, or a fresh key when it was not set, so that the client's own
// retries and a rerun with the key printed on an unsure outcome act once.
func idempotencyFlag(cmd *cobra.Command, what string) (key func() string) {
	var k string
	cmd.Flags().StringVar(&k, "idempotency-key", "", "key to make a retry of this exact command "+what+" once (default: a fresh one)")
	return func() string {
		if k == "" {
			k = newIdempotencyKey()
		}
		return k
	}
}

// webhookStatus is an endpoint's state in a few words: for a disabled one
// since when and why, for one retrying an event since when, how many
// attempts failed, when the next is and the last error.
func webhookStatus(h client.Webhook) string {
	switch {
	case h.State == "disabled" && h.DisabledAt != nil:
		return fmt.Sprintf("DISABLED since %s: %s", h.DisabledAt.Local().Format(time.Stamp), h.DisabledReason)
	case h.State == "disabled":
		return "DISABLED: " + h.DisabledReason
	case h.FailingSince != nil:
		s := fmt.Sprintf("RETRYING since %s, %d attempt%s failed", h.FailingSince.Local().Format(time.Stamp), h.Attempt, plural(h.Attempt))
		if h.NextAttemptAt != nil {
			s += ", next " + timeOfDay(*h.NextAttemptAt, time.Now())
		}
		return s + ": " + h.LastError
	}
	return h.State
}

// timeOfDay is t as a clock reads it, with the date when it is not today.
func timeOfDay(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format(time.TimeOnly)
	}
	return t.Format(time.Stamp)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newWebhookListCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List endpoints with their state, position in the log and failures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd, &o, func(ctx context.Context, c *client.Client) ([]client.Webhook, error) {
				return c.Webhooks(ctx)
			}, func(out io.Writer, hs []client.Webhook) {
				w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tTENANT\tURL\tEVENTS\tCURSOR\tSTATUS")
				for _, h := range hs {
					tenant, events := "all", "all"
					if h.TenantID != 0 {
						tenant = fmt.Sprint(h.TenantID)
					}
					if len(h.Events) > 0 {
						events = fmt.Sprint(h.Events)
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\n", h.ID, tenant, h.URL, events, h.Cursor, webhookStatus(h))
				}
				w.Flush()
			})
		},
	}
	o.register(cmd, true)
	return cmd
}

func deliveryLine(d client.WebhookDelivery) string {
	if d.Attempt == 0 { // not an attempt: events retention deleted before delivery
		return fmt.Sprintf("%s  events %s  not delivered: %s", d.At.Local().Format("15:04:05.000"), d.EventID, d.Error)
	}
	status := "no answer"
	if d.Status != 0 {
		status = fmt.Sprint(d.Status)
	}
	line := fmt.Sprintf("%s  event %s  attempt %d  %s  %s", d.At.Local().Format("15:04:05.000"), d.EventID, d.Attempt, status, d.Latency.Round(time.Microsecond*100))
	if d.Error != "" {
		line += "  " + d.Error
	}
	return line
}

func newWebhookDeliveriesCmd() *cobra.Command {
	var o clientOptions
	var limit int
	cmd := &cobra.Command{
		Use:   "deliveries ID",
		Short: "Show an endpoint's recent attempts, newest first: event id, status, latency, error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "webhook id")
			if err != nil {
				return err
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) ([]client.WebhookDelivery, error) {
				return c.WebhookDeliveries(ctx, id, limit)
			}, func(w io.Writer, ds []client.WebhookDelivery) {
				for _, d := range ds {
					fmt.Fprintln(w, deliveryLine(d))
				}
			})
		},
	}
	o.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 20, "how many (the server keeps the last 100)")
	return cmd
}

// newWebhookWriteCmd is a change to one endpoint, `posd webhook VERB ID`:
// sent with an idempotency key (fresh, or --idempotency-key to finish an
// earlier run whose outcome is unknown), its answer printed by show.
func newWebhookWriteCmd[T any](use, short, what string, do func(ctx context.Context, c *client.Client, id int64, opts []client.Option) (T, error), show func(io.Writer, T)) *cobra.Command {
	var o clientOptions
	var key func() string // set with the flag, read when the command runs
	cmd := &cobra.Command{
		Use:   use + " [--idempotency-key KEY]",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "webhook id")
			if err != nil {
				return err
			}
			k := key()
			return unsure(call(cmd, &o, func(ctx context.Context, c *client.Client) (T, error) {
				return do(ctx, c, id, writeOpts(k))
			}, show), k)
		},
	}
	o.register(cmd, true)
	key = idempotencyFlag(cmd, what)
	return cmd
}

func newWebhookRemoveCmd() *cobra.Command {
	return newWebhookWriteCmd("remove ID", "Forget an endpoint and its deliveries", "remove it",
		func(ctx context.Context, c *client.Client, id int64, opts []client.Option) (int64, error) {
			return id, c.RemoveWebhook(ctx, id, opts...)
		}, func(w io.Writer, id int64) { fmt.Fprintf(w, "webhook %d removed\n", id) })
}

func newWebhookStateCmd(verb, short string, do func(*client.Client, context.Context, int64, ...client.Option) (client.Webhook, error)) *cobra.Command {
	return newWebhookWriteCmd(verb+" ID", short, verb+" it",
		func(ctx context.Context, c *client.Client, id int64, opts []client.Option) (client.Webhook, error) {
			return do(c, ctx, id, opts...)
		}, func(w io.Writer, h client.Webhook) {
			fmt.Fprintf(w, "webhook %d: %s\n", h.ID, webhookStatus(h))
			if h.Warning != "" {
				fmt.Fprintf(w, "warning: %s; the endpoint will not get them (retention kept the rest, which it gets)\n", h.Warning)
			}
		})
}

func newWebhookTestCmd() *cobra.Command {
	return newWebhookWriteCmd("test ID", "Send a ping (type \"ping\", webhook-id ping_…) now and show the answer", "ping",
		func(ctx context.Context, c *client.Client, id int64, opts []client.Option) (client.WebhookDelivery, error) {
			return c.TestWebhook(ctx, id, opts...)
		}, func(w io.Writer, d client.WebhookDelivery) { fmt.Fprintln(w, deliveryLine(d)) })
}

func newWebhookReplayCmd() *cobra.Command {
	var since int64
	cmd := newWebhookWriteCmd("replay ID --since EVENT_ID", "Send again every event after EVENT_ID, in order (what retention kept)", "move the cursor",
		func(ctx context.Context, c *client.Client, id int64, opts []client.Option) (client.Webhook, error) {
			return c.ReplayWebhook(ctx, id, since, opts...)
		}, func(w io.Writer, h client.Webhook) {
			fmt.Fprintf(w, "webhook %d replays from after event %d\n", h.ID, h.Cursor)
		})
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("since") {
			return usageErr("--since is required")
		}
		return nil
	}
	cmd.Flags().Int64Var(&since, "since", 0, "the last event id the receiver keeps; everything after it is sent again")
	return cmd
}
