package postgres_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/postgres/pgtest"
)

// TestTwoNodesKeepTheMoneyRight: goroutines on two nodes (two Stores on
// one database) create, pay, refund, advance and cancel the same few
// orders at once, under READ COMMITTED. Every outcome is a success or a
// client-facing refusal (conflict, unprocessable), never an internal
// error or a serialization failure; and afterwards no order is paid
// twice, no payment is refunded beyond its amount, every order's totals
// agree with its payment rows, order numbers are unique and gap-free per
// tenant, and the log holds one event per change with contiguous ids.
func TestTwoNodesKeepTheMoneyRight(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	nodes := []*postgres.Store{open(t, dsn, store.Options{}), open(t, dsn, store.Options{})}
	svcs := []*service.Service{service.New(nodes[0], nil), service.New(nodes[1], nil)}
	var tenants []int64
	for _, code := range []string{"T1", "T2"} {
		tn, err := svcs[0].CreateTenant(ctx, auth.Anonymous, "Warung "+code, code)
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, tn.ID)
	}
	counter, err := svcs[1].CreateCounter(ctx, auth.Anonymous, "Kasir")
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var orders []*domain.Order
	var payments []int64
	pick := func(rng *rand.Rand) (*domain.Order, int64) {
		mu.Lock()
		defer mu.Unlock()
		var p int64
		if len(payments) > 0 {
			p = payments[rng.IntN(len(payments))]
		}
		return orders[rng.IntN(len(orders))], p
	}
	newOrder := func(svc *service.Service, tenant int64) error {
		o, err := svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{TenantID: tenant, CustomerName: "Budi",
			Items: []domain.Item{{Name: "Sate", Quantity: 2, UnitPrice: 5000}}})
		if err == nil {
			mu.Lock()
			orders = append(orders, o)
			mu.Unlock()
		}
		return err
	}
	for i := range 6 {
		if err := newOrder(svcs[i%2], tenants[i%2]); err != nil {
			t.Fatal(err)
		}
	}

	const workers, ops = 12, 40
	var wg sync.WaitGroup
	counts := make([]map[string]int, workers)
	for w := range workers {
		wg.Add(1)
		counts[w] = map[string]int{}
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			svc := svcs[w%2]
			for range ops {
				o, pay := pick(rng)
				var err error
				op := ""
				switch r := rng.IntN(20); {
				case r < 3:
					op, err = "create", newOrder(svc, tenants[rng.IntN(2)])
				case r < 9:
					op = "pay"
					_, err = svc.Pay(ctx, auth.Anonymous, service.NewPayment{OrderID: o.ID, AmountPaid: o.TotalAmount, PaymentMethod: "cash", CounterID: counter.ID})
					if err == nil {
						p, _ := nodes[w%2].Order(ctx, o.ID)
						mu.Lock()
						payments = append(payments, p.Payments[0].ID)
						mu.Unlock()
					}
				case r < 15 && pay != 0:
					op = "refund"
					_, err = svc.Refund(ctx, auth.Anonymous, pay, "sorry", int64(1000*(1+rng.IntN(4))))
				case r < 19:
					op = "advance"
					cur, rerr := nodes[w%2].Order(ctx, o.ID)
					if rerr != nil {
						t.Error(rerr)
						return
					}
					if next := cur.Status.Next(); next != "" {
						_, err = svc.SetStatus(ctx, auth.Anonymous, o.ID, next)
					}
				default:
					op = "cancel"
					_, err = svc.Cancel(ctx, auth.Anonymous, o.ID, "closing")
				}
				switch domain.ErrorCode(err) {
				case domain.CodeInternal:
					if err != nil {
						t.Errorf("%s: %v", op, err)
						return
					}
					counts[w][op]++
				case domain.CodeConflict, domain.CodeUnprocessable:
					counts[w][op+" refused"]++
				default:
					t.Errorf("%s: %v", op, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := map[string]int{}
	for _, c := range counts {
		for k, v := range c {
			total[k] += v
		}
	}
	t.Logf("outcomes: %v", total)
	if total["pay"] == 0 || total["refund"] == 0 || total["pay refused"] == 0 {
		t.Fatalf("the mix did not contend: %v", total)
	}

	db := nodes[0].Pool()
	check := func(what, q string) {
		t.Helper()
		rows, err := db.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			vals, _ := rows.Values()
			t.Errorf("%s: %v", what, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	check("order paid twice", `SELECT order_id, COUNT(*) FROM payments WHERE kind = 'payment' AND status = 'success' GROUP BY order_id HAVING COUNT(*) > 1`)
	check("payment refunded beyond its amount, or its total disagrees with its refunds", `
		SELECT p.id, p.amount, p.refunded_amount, COALESCE(SUM(r.amount), 0)
		FROM payments p LEFT JOIN payments r ON r.original_payment_id = p.id AND r.kind = 'refund'
		WHERE p.kind = 'payment' GROUP BY p.id
		HAVING COALESCE(SUM(r.amount), 0) > p.amount OR COALESCE(SUM(r.amount), 0) <> p.refunded_amount`)
	check("order totals disagree with its payment rows", `
		SELECT o.id, o.paid_amount, o.refunded_amount,
			COALESCE(SUM(p.amount) FILTER (WHERE p.kind = 'payment'), 0), COALESCE(SUM(p.amount) FILTER (WHERE p.kind = 'refund'), 0)
		FROM orders o LEFT JOIN payments p ON p.order_id = o.id GROUP BY o.id
		HAVING o.paid_amount <> COALESCE(SUM(p.amount) FILTER (WHERE p.kind = 'payment'), 0)
			OR o.refunded_amount <> COALESCE(SUM(p.amount) FILTER (WHERE p.kind = 'refund'), 0)`)
	check("order numbers not 1..n per tenant", `
		SELECT tenant_id, COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq), MAX(t.order_seq)
		FROM orders JOIN tenants t ON t.id = tenant_id GROUP BY tenant_id
		HAVING COUNT(DISTINCT seq) <> COUNT(*) OR MIN(seq) <> 1 OR MAX(seq) <> COUNT(*) OR MAX(t.order_seq) <> COUNT(*)`)
	check("event ids not contiguous", `SELECT COUNT(*), MIN(id), MAX(id), (SELECT last_id FROM log_head) FROM events
		HAVING COUNT(*) <> MAX(id) OR MIN(id) <> 1 OR MAX(id) <> (SELECT last_id FROM log_head)`)
	var pays, refunds, payEvents, refundEvents int
	if err := db.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM payments WHERE kind = 'payment'), (SELECT COUNT(*) FROM payments WHERE kind = 'refund'),
		(SELECT COUNT(*) FROM events WHERE name = $1), (SELECT COUNT(*) FROM events WHERE name = $2)`,
		domain.EventPaymentProcessed, domain.EventPaymentRefunded).Scan(&pays, &refunds, &payEvents, &refundEvents); err != nil {
		t.Fatal(err)
	}
	if pays != payEvents || refunds != refundEvents {
		t.Fatalf("%d payments, %d payment events; %d refunds, %d refund events", pays, payEvents, refunds, refundEvents)
	}
}

// BenchmarkCreateOrderPostgres: one order through the service and
// PostgreSQL (one tenant, so every order queues on its counter and on the
// log), from as many goroutines as -cpu says: orders/s is the figure.
func BenchmarkCreateOrderPostgres(b *testing.B) {
	dsn := pgtest.DSN(b)
	s := open(b, dsn, store.Options{})
	svc := service.New(s, nil)
	ctx := context.Background()
	if _, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung", "T1"); err != nil {
		b.Fatal(err)
	}
	in := service.NewOrder{TenantID: 1, CustomerName: "Budi", Items: []domain.Item{
		{Name: "Nasi Goreng", Quantity: 2, UnitPrice: 25000},
		{Name: "Es Teh", Quantity: 1, UnitPrice: 5000},
	}}
	for range 100 {
		if _, err := svc.CreateOrder(ctx, auth.Anonymous, in); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.CreateOrder(ctx, auth.Anonymous, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "orders/s")
}
