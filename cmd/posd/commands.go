package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
)

// Thin API clients: each parses flags, makes one call, prints the result.

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeOpts sends key as the Idempotency-Key and lets the client retry a
// few times when the server is unreachable or overloaded: with the key, a
// retry can never act twice.
func writeOpts(key string) []client.Option {
	return []client.Option{client.WithIdempotencyKey(key), client.WithRetries(3)}
}

// unsure adds what to do when a write's outcome is unknown (the server was
// unreachable or failed): run it again with the same key.
func unsure(err error, key string) error {
	var e *exitError
	if errors.As(err, &e) && e.code == 3 {
		return &exitError{code: 3, err: fmt.Errorf("%w — it may or may not have happened; run the same command with --idempotency-key %s to finish it without doing it twice", e.err, key)}
	}
	return err
}

// newIdempotencyKey makes a fresh key so that a retried command acts once.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "posd-cli-" + hex.EncodeToString(b[:])
}

// call makes one API call with o's client and prints the result: JSON with
// --json, else the human line(s) of human.
func call[T any](cmd *cobra.Command, o *clientOptions, do func(context.Context, *client.Client) (T, error), human func(io.Writer, T)) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	v, err := do(cmd.Context(), c)
	if err != nil {
		return apiFailure(err)
	}
	if o.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	human(cmd.OutOrStdout(), v)
	return nil
}

// completeFlag makes shell completion offer values for a flag that takes
// one of a fixed few.
func completeFlag(cmd *cobra.Command, flag string, values ...string) {
	err := cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	})
	if err != nil {
		panic("posd: completion for --" + flag + ": " + err.Error()) // a flag renamed without this call
	}
}

func methodNames() []string {
	out := make([]string, len(domain.Methods))
	for i, m := range domain.Methods {
		out[i] = string(m)
	}
	return out
}

func usageErr(format string, args ...any) error {
	return &exitError{code: 1, err: fmt.Errorf(format, args...)}
}

func newAlertCmd() *cobra.Command {
	var o clientOptions
	var severity string
	cmd := &cobra.Command{
		Use:   "alert MESSAGE",
		Short: "Broadcast a system alert to every connected screen (admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !domain.ValidSeverity(severity) {
				return usageErr("--severity must be error, warning or info, not %q", severity)
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (client.Event, error) {
				return c.Alert(ctx, severity, args[0], writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, ev client.Event) {
				fmt.Fprintf(w, "alert %d sent (%s): %s\n", ev.ID(), severity, args[0])
			})
		},
	}
	o.register(cmd, true)
	cmd.Flags().StringVar(&severity, "severity", domain.SeverityInfo, "error, warning or info")
	completeFlag(cmd, "severity", domain.Severities...)
	return cmd
}

func newNotifyCmd() *cobra.Command {
	var o clientOptions
	var user int64
	var typ, data string
	cmd := &cobra.Command{
		Use:   "notify --user ID --type TYPE [--data JSON]",
		Short: "Send a notification to one user's room; it waits in the log if they are offline (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user <= 0 {
				return usageErr("--user must be a positive user id")
			}
			if typ == "" {
				return usageErr("--type is required (e.g. order_ready)")
			}
			if !json.Valid([]byte(data)) || !strings.HasPrefix(strings.TrimSpace(data), "{") {
				return usageErr("--data must be a JSON object, e.g. '{\"order_id\":1}'")
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (client.Event, error) {
				return c.Notify(ctx, user, typ, json.RawMessage(data), writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, ev client.Event) {
				fmt.Fprintf(w, "notification %d sent to user-%d (%s)\n", ev.ID(), user, typ)
			})
		},
	}
	o.register(cmd, true)
	cmd.Flags().Int64Var(&user, "user", 0, "user id")
	cmd.Flags().StringVar(&typ, "type", "", "notification type, e.g. order_ready")
	cmd.Flags().StringVar(&data, "data", "{}", "JSON object to send")
	return cmd
}

func newStatsCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show live connections and clients per room, across every live node (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			active, nodes, err := c.ConnectionsOnNodes(cmd.Context())
			if err != nil {
				return apiFailure(err)
			}
			rooms, err := c.Rooms(cmd.Context())
			if err != nil {
				return apiFailure(err)
			}
			// Endpoints that are disabled or retrying; a token that manages
			// none (not an admin) just sees none.
			failing, _ := c.FailingWebhooks(cmd.Context())
			if o.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"active": active, "rooms": rooms, "nodes": nodes, "failing_webhooks": failing})
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "nodes\t%d\n", nodes)
			fmt.Fprintf(w, "connections\t%d\n", active)
			names := make([]string, 0, len(rooms))
			for r := range rooms {
				names = append(names, r)
			}
			sort.Strings(names)
			for _, r := range names {
				fmt.Fprintf(w, "%s\t%d\n", r, rooms[r])
			}
			for _, h := range failing {
				fmt.Fprintf(w, "webhook %d\t%s\t%s\n", h.ID, h.URL, webhookStatus(h))
			}
			return w.Flush()
		},
	}
	o.register(cmd, true)
	return cmd
}

func newNodesCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes sharing the server's database: connections, lag behind the log, last heartbeat (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			list, err := c.Nodes(cmd.Context())
			if err != nil {
				return apiFailure(err)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), list)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NODE\tADDRESS\tCONNECTIONS\tLAG\tHEARTBEAT\tSTATE")
			for _, n := range list.Nodes {
				state := "live"
				if !n.Live {
					state = "silent"
				}
				if n.Self {
					state += " (answered)"
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\n", n.ID, n.Addr, n.Connections, n.Lag, n.HeartbeatAt.Local().Format("15:04:05"), state)
			}
			fmt.Fprintf(w, "log head %d\n", list.Head)
			return w.Flush()
		},
	}
	o.register(cmd, true)
	return cmd
}

func newOrderCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "order", Short: "Create, advance and cancel orders"}
	cmd.AddCommand(newOrderCreateCmd(), newOrderStatusCmd(), newOrderCancelCmd(), newOrderShowCmd())
	return cmd
}

// parseItem reads "NAME:QTY:PRICE[:NOTES]".
func parseItem(s string) (client.ItemRequest, error) {
	parts := strings.SplitN(s, ":", 4)
	if len(parts) < 3 {
		return client.ItemRequest{}, fmt.Errorf("--item %q: want NAME:QTY:PRICE[:NOTES], e.g. \"Nasi Goreng:2:25000\"", s)
	}
	qty, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || qty < 1 {
		return client.ItemRequest{}, fmt.Errorf("--item %q: quantity must be a positive integer", s)
	}
	price, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || price < 0 {
		return client.ItemRequest{}, fmt.Errorf("--item %q: price must be whole Rupiah ≥ 0", s)
	}
	it := client.ItemRequest{Name: parts[0], Quantity: qty, UnitPrice: price}
	if len(parts) == 4 {
		it.Notes = parts[3]
	}
	return it, nil
}

func printOrder(w io.Writer, o domain.Order) {
	fmt.Fprintf(w, "order %s (id %d, tenant %d) — %s — %s\n", o.OrderNumber, o.ID, o.TenantID, o.CustomerName, o.Status)
	for _, it := range o.Items {
		line := fmt.Sprintf("  %3d × %-24s %12s", it.Quantity, it.Name, domain.Rupiah(it.Subtotal))
		if it.Notes != "" {
			line += "  (" + it.Notes + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "  total %s", domain.Rupiah(o.TotalAmount))
	if o.PaidAmount > 0 {
		fmt.Fprintf(w, ", paid %s", domain.Rupiah(o.PaidAmount))
	}
	if o.Refunded > 0 {
		fmt.Fprintf(w, ", refunded %s", domain.Rupiah(o.Refunded))
	}
	fmt.Fprintln(w)
	if o.QR != nil {
		if o.QR.Code != "" {
			fmt.Fprintf(w, "  pickup code %s\n", o.QR.Code)
		}
		fmt.Fprintf(w, "  QR token %s (scanned %d×)\n", o.QR.Token, o.QR.ScannedCount)
	}
}

func newOrderCreateCmd() *cobra.Command {
	var o clientOptions
	var tenant int64
	var customer, idemKey string
	var items []string
	cmd := &cobra.Command{
		Use:   "create --tenant ID --customer NAME --item NAME:QTY:PRICE[:NOTES]...",
		Short: "Create an order (retries are safe: an Idempotency-Key is sent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant <= 0 {
				return usageErr("--tenant must be a positive tenant id")
			}
			if len(items) == 0 {
				return usageErr("at least one --item NAME:QTY:PRICE is required")
			}
			req := client.OrderRequest{TenantID: tenant, CustomerName: customer}
			for _, s := range items {
				it, err := parseItem(s)
				if err != nil {
					return usageErr("%v", err)
				}
				req.Items = append(req.Items, it)
			}
			if idemKey == "" {
				idemKey = newIdempotencyKey()
			}
			return unsure(call(cmd, &o, func(ctx context.Context, c *client.Client) (domain.Order, error) {
				return c.CreateOrder(ctx, req, writeOpts(idemKey)...)
			}, printOrder), idemKey)
		},
	}
	o.register(cmd, true)
	f := cmd.Flags()
	f.Int64Var(&tenant, "tenant", 0, "tenant (stall) id")
	f.StringVar(&customer, "customer", "", "customer name")
	f.StringArrayVar(&items, "item", nil, "item as NAME:QTY:PRICE[:NOTES] (repeatable)")
	f.StringVar(&idemKey, "idempotency-key", "", "key to make a retry of this exact command act once (default: a fresh one)")
	return cmd
}

func parseID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErr("%s must be a positive integer, not %q", what, s)
	}
	return id, nil
}

func newOrderShowCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one order with items, payments and QR code",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "order id")
			if err != nil {
				return err
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (domain.Order, error) {
				return c.Order(ctx, id)
			}, printOrder)
		},
	}
	o.register(cmd, true)
	return cmd
}

func newOrderStatusCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "status ID STATUS",
		Short: "Move an order to its next status (pending → preparing → ready → completed)",
		Args:  cobra.ExactArgs(2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) != 1 {
				return nil, cobra.ShellCompDirectiveNoFileComp // the id: nothing to offer offline
			}
			// Cancelling takes a reason: that is "posd order cancel".
			return []string{string(domain.StatusPreparing), string(domain.StatusReady), string(domain.StatusCompleted)},
				cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "order id")
			if err != nil {
				return err
			}
			st, err := domain.ParseStatus(args[1])
			if err != nil {
				return usageErr("%s", domain.ErrorMessage(err))
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (domain.Order, error) {
				return c.SetStatus(ctx, id, st, writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, ord domain.Order) {
				fmt.Fprintf(w, "order %s is now %s\n", ord.OrderNumber, ord.Status)
			})
		},
	}
	o.register(cmd, true)
	return cmd
}

func newOrderCancelCmd() *cobra.Command {
	var o clientOptions
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel ID --reason TEXT",
		Short: "Cancel an open order; what was paid is refunded",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0], "order id")
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return usageErr("--reason is required")
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (domain.Order, error) {
				return c.Cancel(ctx, id, reason, writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, ord domain.Order) {
				fmt.Fprintf(w, "order %s cancelled (%s)", ord.OrderNumber, reason)
				if ord.Refunded > 0 {
					fmt.Fprintf(w, "; %s refunded in all", domain.Rupiah(ord.Refunded))
				}
				fmt.Fprintln(w)
			})
		},
	}
	o.register(cmd, true)
	cmd.Flags().StringVar(&reason, "reason", "", "why the order is cancelled")
	return cmd
}

func newPayCmd() *cobra.Command {
	var o clientOptions
	var order, amount, counter int64
	var method, idemKey string
	cmd := &cobra.Command{
		Use:   "pay --order ID --amount RUPIAH --method cash|qris|card|ewallet --counter ID",
		Short: "Take the payment of an order at a kasir counter (retries are safe)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := domain.ParseMethod(method)
			if err != nil {
				return usageErr("%s", domain.ErrorMessage(err))
			}
			if order <= 0 || counter <= 0 {
				return usageErr("--order and --counter must be positive ids")
			}
			if amount < 0 {
				return usageErr("--amount must be whole Rupiah ≥ 0")
			}
			if idemKey == "" {
				idemKey = newIdempotencyKey()
			}
			req := client.PayRequest{OrderID: order, AmountPaid: amount, PaymentMethod: m, CounterID: counter}
			return unsure(call(cmd, &o, func(ctx context.Context, c *client.Client) (domain.Payment, error) {
				return c.Pay(ctx, req, writeOpts(idemKey)...)
			}, func(w io.Writer, p domain.Payment) {
				fmt.Fprintf(w, "paid %s for %s by %s at counter %d — change %s — ref %s (payment %d)\n",
					domain.Rupiah(p.AmountPaid), p.OrderNumber, p.Method, p.CounterID, domain.Rupiah(p.Change), p.Reference, p.ID)
			}), idemKey)
		},
	}
	o.register(cmd, true)
	f := cmd.Flags()
	f.Int64Var(&order, "order", 0, "order id")
	f.Int64Var(&amount, "amount", 0, "amount tendered in whole Rupiah (cash may exceed the total)")
	f.StringVar(&method, "method", string(domain.MethodCash), "cash, qris, card or ewallet")
	completeFlag(cmd, "method", methodNames()...)
	f.Int64Var(&counter, "counter", 0, "kasir counter id")
	f.StringVar(&idemKey, "idempotency-key", "", "key to make a retry of this exact command act once (default: a fresh one)")
	return cmd
}

func newRefundCmd() *cobra.Command {
	var o clientOptions
	var amount, orderID int64
	var reason string
	cmd := &cobra.Command{
		Use:   "refund [PAYMENT_ID | --order ORDER_ID] --reason TEXT [--amount RUPIAH]",
		Short: "Refund a payment, all that is left unless --amount is given",
		Long: `Refund a payment, by its payment id (printed by "posd pay") or by its
order's id with --order, which refunds the order's one payment that still has
money left on it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id int64
			switch {
			case len(args) == 1 && orderID != 0:
				return usageErr("give a payment id or --order, not both")
			case len(args) == 1:
				var err error
				if id, err = parseID(args[0], "payment id"); err != nil {
					return err
				}
			case orderID < 0:
				return usageErr("--order must be a positive integer")
			case orderID == 0:
				return usageErr("give the payment id, or the order's id with --order")
			}
			if strings.TrimSpace(reason) == "" {
				return usageErr("--reason is required")
			}
			if amount < 0 {
				return usageErr("--amount must be whole Rupiah ≥ 0")
			}
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (domain.Payment, error) {
				if orderID != 0 {
					ord, err := c.Order(ctx, orderID)
					if err != nil {
						return domain.Payment{}, err
					}
					if id, err = refundablePayment(ord); err != nil {
						return domain.Payment{}, err
					}
				}
				return c.Refund(ctx, id, reason, amount, writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, r domain.Payment) {
				fmt.Fprintf(w, "refunded %s of payment %d (%s) — ref %s\n", domain.Rupiah(r.Amount), id, r.OrderNumber, r.Reference)
			})
		},
	}
	o.register(cmd, true)
	cmd.Flags().Int64Var(&orderID, "order", 0, "refund this order's payment instead of naming the payment id")
	cmd.Flags().Int64Var(&amount, "amount", 0, "amount to refund in whole Rupiah (default: all that remains)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the money goes back")
	return cmd
}

// refundablePayment is the payment of ord that still has money on it. An
// order is paid once, so there is at most one; were there several, guessing
// would refund the wrong one, so the user is asked to name it.
func refundablePayment(ord domain.Order) (int64, error) {
	var ids []string
	var id int64
	for _, p := range ord.Payments {
		if p.Kind == domain.KindPayment && p.Remaining() > 0 {
			id = p.ID
			ids = append(ids, strconv.FormatInt(p.ID, 10))
		}
	}
	switch len(ids) {
	case 0:
		return 0, &exitError{code: 2, err: fmt.Errorf("order %s has no payment left to refund", ord.OrderNumber)}
	case 1:
		return id, nil
	default:
		return 0, usageErr("order %s has several payments (%s): give the payment id", ord.OrderNumber, strings.Join(ids, ", "))
	}
}

func newQRCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "qr", Short: "Pickup QR codes"}
	var o clientOptions
	scan := &cobra.Command{
		Use:   "scan TOKEN|CODE",
		Short: "Record a pickup: the order's QR token, or its 6-character pickup code",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &o, func(ctx context.Context, c *client.Client) (domain.QRCode, error) {
				// A 22-character token never reads as a 6-character code.
				if _, ok := domain.NormalizePickupCode(args[0]); ok {
					return c.ScanCode(ctx, args[0], writeOpts(newIdempotencyKey())...)
				}
				return c.ScanQR(ctx, args[0], writeOpts(newIdempotencyKey())...)
			}, func(w io.Writer, q domain.QRCode) {
				fmt.Fprintf(w, "QR of order %d scanned (%d×)\n", q.OrderID, q.ScannedCount)
			})
		},
	}
	o.register(scan, true)
	cmd.AddCommand(scan)
	return cmd
}

func newWatchCmd() *cobra.Command {
	var o clientOptions
	var rooms []string
	var since int64
	cmd := &cobra.Command{
		Use:   "watch [--room ROOM]... [--since ID]",
		Short: "Print events as JSON lines; reconnects and resumes by itself",
		Long: `watch follows the native WebSocket and prints each event as one JSON line on
stdout; connection changes go to stderr. With --since it first replays every
event after that id. After a drop it reconnects and resumes from the last id it
printed, so nothing is missed or repeated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, r := range rooms {
				if _, err := domain.ParseRoom(r); err != nil {
					return usageErr("%s", domain.ErrorMessage(err))
				}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if !cmd.Flags().Changed("since") {
				since = 0
				if page, err := c.Orders(ctx, client.OrderFilter{Limit: 1}); err == nil {
					since = page.LastEventID // live from now on
				}
			}
			s := c.Subscribe(ctx, client.StreamOptions{Rooms: rooms, Since: since})
			defer s.Close()
			out := json.NewEncoder(cmd.OutOrStdout())
			out.SetEscapeHTML(false)
			errw := cmd.ErrOrStderr()
			for u := range s.Updates() {
				switch {
				case u.Event != nil:
					if err := out.Encode(u.Event); err != nil {
						return err
					}
				case u.State != nil:
					st := u.State
					line := "posd watch: " + st.Conn.String()
					if st.Attempt > 0 && st.Conn != client.Live {
						line += fmt.Sprintf(" (attempt %d)", st.Attempt)
					}
					if st.Err != nil {
						line += ": " + st.Err.Error()
					}
					fmt.Fprintln(errw, line)
					if st.Fatal {
						return &exitError{code: 2, err: fmt.Errorf("stream refused: %v", st.Err)}
					}
				case u.Gap != nil:
					fmt.Fprintf(errw, "posd watch: events after %d were pruned; continuing from %d: %s\n", u.Gap.Since, u.Gap.OldestID-1, u.Gap.Message)
					s.Reset(u.Gap.OldestID - 1)
				case u.Notice != nil && u.Notice.Op == "error":
					fmt.Fprintf(errw, "posd watch: %s: %s\n", u.Notice.Code, u.Notice.Message)
				}
			}
			return nil // ctx ended: Ctrl-C
		},
	}
	o.register(cmd, false)
	cmd.Flags().StringArrayVar(&rooms, "room", nil, "room to follow: display, tenant-N, kasir-N or user-N (repeatable; default: the token's own rooms)")
	cmd.Flags().Int64Var(&since, "since", 0, "replay every event after this id first")
	return cmd
}
