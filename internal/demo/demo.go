// Package demo opens a food court on a posd server and keeps it busy: stalls
// with Indonesian menus, two kasir counters, and a steady stream of customers
// whose orders are prepared, paid for, picked up with their QR code, and now
// and then cancelled or refunded — so that the kitchen display, the kasir
// dashboard and the pickup board have something real to show.
//
// Everything goes through the public API, exactly as a stall, a counter and a
// customer would; staff working in a console at the same time are welcome:
// when an order moves under the demo's feet it follows the order's new state.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
)

// API is what the demo needs of a posd server; *client.Client provides it.
type API interface {
	Tenants(ctx context.Context) ([]client.Tenant, error)
	CreateTenant(ctx context.Context, name, code string, opts ...client.Option) (client.Tenant, error)
	Counters(ctx context.Context) ([]client.Counter, error)
	CreateCounter(ctx context.Context, name string, opts ...client.Option) (client.Counter, error)
	Orders(ctx context.Context, f client.OrderFilter) (client.OrderList, error)
	Order(ctx context.Context, id int64) (domain.Order, error)
	CreateOrder(ctx context.Context, req client.OrderRequest, opts ...client.Option) (domain.Order, error)
	SetStatus(ctx context.Context, id int64, status domain.Status, opts ...client.Option) (domain.Order, error)
	Cancel(ctx context.Context, id int64, reason string, opts ...client.Option) (domain.Order, error)
	Pay(ctx context.Context, req client.PayRequest, opts ...client.Option) (domain.Payment, error)
	Refund(ctx context.Context, paymentID int64, reason string, amount int64, opts ...client.Option) (domain.Payment, error)
	ScanQR(ctx context.Context, token string, opts ...client.Option) (domain.QRCode, error)
	ScanCode(ctx context.Context, code string, opts ...client.Option) (domain.QRCode, error)
	Alert(ctx context.Context, severity, message string, opts ...client.Option) (client.Event, error)
}

var _ API = (*client.Client)(nil)

// Defaults of Options.
const (
	// DefaultRate keeps six stalls busy without burying them: at 20 a
	// minute the kitchen held 30–45 tickets within five minutes (Little's
	// law: arrivals × time in the kitchen), more than a screen shows.
	// TestDefaultDemoStaysHealthy holds this rate to a healthy band.
	DefaultRate  = 10.0 // new orders per minute
	DefaultSpeed = 1.0
)

// Options tune the traffic.
type Options struct {
	// Rate is how many new orders arrive per minute of real time.
	Rate float64
	// Speed divides every delay in an order's life (preparing, cooking,
	// waiting at the counter, pickup): 10 runs a 3-minute order in 18 s.
	Speed float64
	// Seed makes the traffic repeatable; 0 picks one from the clock.
	Seed int64
	// MaxOrders stops new arrivals after that many orders; Run then returns
	// once every order it started has finished. 0 means no limit.
	MaxOrders int
	// NoAlerts turns off the occasional food-court announcement (a system
	// alert every few minutes, shown as a banner by the kasir console).
	NoAlerts bool
	// Logger receives one line per action; slog.Default() when nil.
	Logger *slog.Logger

	clock clock // tests run on virtual time
}

func (o *Options) normalize() error {
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Speed == 0 {
		o.Speed = DefaultSpeed
	}
	if math.IsNaN(o.Rate) || o.Rate < 0 || o.Rate > 60_000 {
		return fmt.Errorf("rate must be between 0 and 60000 orders per minute (got %v)", o.Rate)
	}
	if math.IsNaN(o.Speed) || o.Speed <= 0 || o.Speed > 10_000 {
		return fmt.Errorf("speed must be above 0 and at most 10000 (got %v)", o.Speed)
	}
	if o.MaxOrders < 0 {
		return fmt.Errorf("max orders must not be negative (got %d)", o.MaxOrders)
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.clock == nil {
		o.clock = realClock{}
	}
	return nil
}

// Run sets up the food court (or reuses the one it finds) and drives traffic
// until ctx is cancelled, which is the normal way to stop it and returns nil.
// It returns an error when the server refuses the demo outright (bad token,
// no such server) or when opts are invalid.
func Run(ctx context.Context, api API, opts Options) error {
	if err := opts.normalize(); err != nil {
		return err
	}
	s := newSim(api, opts)
	if err := s.setup(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.loop(ctx)
	return s.fatal
}

// RunAt runs the demo against the server at base (e.g. http://127.0.0.1:5000)
// with token (empty when the server runs with --auth=off). It first waits for
// the server to answer /healthz, so `posd serve --demo` can start it next to a
// server that is still opening its listener.
func RunAt(ctx context.Context, base, token string, opts Options) error {
	c, err := client.New(client.Config{Server: base, Token: token, UserAgent: "posd-demo"})
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, c, opts.Logger); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return Run(ctx, c, opts)
}

func waitHealthy(ctx context.Context, c *client.Client, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Health(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *client.UnreachableError
		if !errors.As(err, &ue) {
			return fmt.Errorf("server %s: %w", c.Server(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %s did not come up: %w", c.Server(), err)
		}
		log.Debug("waiting for server", "server", c.Server(), "err", err)
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// clock lets tests replace real time with virtual time.
type clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
