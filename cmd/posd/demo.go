package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var co clientOptions
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Open a food court on the server and drive realistic traffic",
		Long: `demo opens a food court on a running posd server — six stalls with Indonesian
menus and two kasir counters, or the stalls and counters it finds there — and
then plays its customers: orders arrive at --rate per minute, stalls prepare
them, customers pay at the counters (cash with change, QRIS, card, e-wallet),
scan their QR code at pickup, and now and then cancel or ask for a refund.
Open orders left by an earlier run are picked up and finished.

Watch it with posd display, posd kasir --counter 1, or the pickup board at
/board. Stop it with Ctrl-C.`,
		Example: `  posd demo
  posd demo --rate 60 --speed 5      # busier, and every order five times faster
  posd demo --seed 42                # the same traffic every time`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := co.client()
			if err != nil {
				return err
			}
			opts.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			err = demo.Run(cmd.Context(), c, opts)
			var apiErr *client.APIError
			var unreach *client.UnreachableError
			if errors.As(err, &apiErr) || errors.As(err, &unreach) {
				return apiFailure(err)
			}
			return err
		},
	}
	co.register(cmd, false)
	f := cmd.Flags()
	f.Float64Var(&opts.Rate, "rate", demo.DefaultRate, "new orders per minute")
	f.Float64Var(&opts.Speed, "speed", demo.DefaultSpeed, "divide every delay in an order's life by this (preparing, cooking, paying, pickup)")
	f.Int64Var(&opts.Seed, "seed", 0, "random seed for repeatable traffic (0: a new one each run)")
	f.IntVar(&opts.MaxOrders, "max-orders", 0, "stop after this many new orders, once they are all finished (0: run until stopped)")
	f.BoolVar(&opts.NoAlerts, "no-alerts", false, "do not broadcast the occasional food-court announcement")
	return cmd
}
