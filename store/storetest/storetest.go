// Package storetest is the behaviour every store backend owes the
// service: one suite, run against SQLite and PostgreSQL alike. Tests of a
// backend's own machinery (SQLite's WAL and query plans, PostgreSQL's
// notifications) stay with that backend.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
)

// Open opens a Store on one database. Calling it again opens another
// Store on the same database: a restart, or a second node. The suite closes
// what it opens; a backend may also close it when the test ends.
type Open func(t *testing.T, opts store.Options) store.Store

// Backend makes fresh databases for the suite.
type Backend struct {
	// NewDB makes an empty database for one test.
	NewDB func(t *testing.T) Open
	// SetPruneBatchSize, when set, makes prunes delete at most n events
	// per transaction until restore is called.
	SetPruneBatchSize func(n int) (restore func())
	// SchemaVersion is the migration the backend is at after Open.
	SchemaVersion int
	// HistoryTimes reads the status history of s as one row per order
	// (HistoryPivot): what order_timings must agree with.
	HistoryTimes func(t *testing.T, s store.Store) []report.OrderTimes
}

// HistoryPivot turns order_status_history into one row per order, the
// columns of report.OrderTimes in order (0: never), on either backend.
const HistoryPivot = `SELECT tenant_id,
	MAX(CASE status WHEN 'pending' THEN at ELSE 0 END), MAX(CASE status WHEN 'preparing' THEN at ELSE 0 END),
	MAX(CASE status WHEN 'ready' THEN at ELSE 0 END), MAX(CASE status WHEN 'completed' THEN at ELSE 0 END),
	MAX(CASE status WHEN 'cancelled' THEN at ELSE 0 END)
	FROM order_status_history GROUP BY order_id, tenant_id`

// Run runs the suite; each test gets a database of its own.
func Run(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"MigrateFreshAndReopen", testMigrateFreshAndReopen},
		{"ConcurrentOrders", testConcurrentOrders},
		{"RollbackWritesNoEvent", testRollbackWritesNoEvent},
		{"FailedWriteLeavesStoreUsable", testFailedWriteLeavesStoreUsable},
		{"WriteContext", testWriteContext},
		{"OrdersAndReads", testOrdersAndReads},
		{"PayOnce", testPayOnce},
		{"Refunds", testRefunds},
		{"CancelRefundsTheRest", testCancelRefundsTheRest},
		{"ScanQR", testScanQR},
		{"PickupCode", testPickupCode},
		{"IdempotencyPerToken", testIdempotencyPerToken},
		{"IdempotentTwins", testIdempotentTwins},
		{"Tokens", testTokens},
		{"EventsByRoom", testEventsByRoom},
		{"PruneStopsAtTheFirstYoungEvent", testPruneStopsAtTheFirstYoungEvent},
		{"PruneKeepsNewestPerRoom", testPruneKeepsNewestPerRoom},
		{"PruneStepsOverKeptEvents", testPruneStepsOverKeptEvents},
		{"PruneIdempotency", testPruneIdempotency},
		{"HorizonForRooms", testHorizonForRooms},
		{"RecoveryRecordsAcrossARestart", testRecoveryRecordsAcrossARestart},
		{"RecoveryGenerations", testRecoveryGenerations},
		{"RecoveryClaimedOnce", testRecoveryClaimedOnce},
		{"RecoveryTouchAndPrune", testRecoveryTouchAndPrune},
		{"ClusterSecret", testClusterSecret},
		{"NodeRegistry", testNodeRegistry},
		{"Webhooks", testWebhooks},
		{"WebhookLeases", testWebhookLeases},
		{"WebhookDeliveriesTrimmed", testWebhookDeliveriesTrimmed},
		{"PruneKeepsWebhookBacklog", testPruneKeepsWebhookBacklog},
		{"StatusHistory", testStatusHistory},
		{"EventCounts", testEventCounts},
		{"OrderTimingsAgreeWithHistory", testOrderTimingsAgreeWithHistory},
		{"SettlementRules", testSettlementRules},
		{"ReportsReconcile", testReportsReconcile},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// Fixture is a store on a fresh database with a service on top.
type Fixture struct {
	Open  Open
	Store store.Store
	Svc   *service.Service
}

// NewFixture opens a fresh database with opts.
func NewFixture(t *testing.T, b Backend, opts store.Options) *Fixture {
	t.Helper()
	open := b.NewDB(t)
	s := open(t, opts)
	t.Cleanup(func() { s.Close() })
	return &Fixture{Open: open, Store: s, Svc: service.New(s, nil)}
}

// Tenant creates a tenant.
func (f *Fixture) Tenant(t testing.TB, code string) domain.Tenant {
	t.Helper()
	tn, err := f.Svc.CreateTenant(context.Background(), auth.Anonymous, "Warung "+code, code)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// Counter creates a kasir counter.
func (f *Fixture) Counter(t testing.TB) domain.Counter {
	t.Helper()
	c, err := f.Svc.CreateCounter(context.Background(), auth.Anonymous, "Kasir")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Order creates an order of tenant worth total (one item).
func (f *Fixture) Order(t testing.TB, tenant, total int64) *domain.Order {
	t.Helper()
	o, err := f.Svc.CreateOrder(context.Background(), auth.Anonymous, service.NewOrder{
		TenantID: tenant, CustomerName: "Budi",
		Items: []domain.Item{{Name: "Nasi Goreng", Quantity: 1, UnitPrice: total}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Pay pays order at counter with exact cash.
func (f *Fixture) Pay(ctx context.Context, order *domain.Order, counter int64) (*domain.Payment, error) {
	return f.Svc.Pay(ctx, auth.Anonymous, service.NewPayment{OrderID: order.ID, AmountPaid: order.TotalAmount, PaymentMethod: "cash", CounterID: counter})
}

func testMigrateFreshAndReopen(t *testing.T, b Backend) {
	ctx := context.Background()
	f := NewFixture(t, b, store.Options{})
	v, err := f.Store.SchemaVersion(ctx)
	if err != nil || v != b.SchemaVersion {
		t.Fatalf("schema version %d, %v; want %d", v, err, b.SchemaVersion)
	}
	f.Tenant(t, "T1")
	if err := f.Store.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s2 := f.Open(t, store.Options{})
	defer s2.Close()
	ts, err := s2.Tenants(ctx)
	if err != nil || len(ts) != 1 || ts[0].Code != "T1" {
		t.Fatalf("after reopen: %v %v", ts, err)
	}
	if v, err := s2.SchemaVersion(ctx); err != nil || v != b.SchemaVersion {
		t.Fatalf("schema version after reopen %d, %v", v, err)
	}
}

// Collector gathers what Options.Committed hands out.
type Collector struct {
	mu     sync.Mutex
	events []domain.Event
}

// Committed is an Options.Committed.
func (c *Collector) Committed(evs []domain.Event) {
	c.mu.Lock()
	c.events = append(c.events, evs...)
	c.mu.Unlock()
}

// Events returns a copy of what was collected.
func (c *Collector) Events() []domain.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]domain.Event(nil), c.events...)
}

// testConcurrentOrders: 50 goroutines create orders at once. Order numbers
// are unique and consecutive per tenant, each order has exactly one
// order:created event, event ids are handed to Committed strictly
// increasing, and the log holds ids 1..n.
func testConcurrentOrders(t *testing.T, b Backend) {
	var col Collector
	f := NewFixture(t, b, store.Options{Committed: col.Committed})
	ctx := context.Background()
	f.Tenant(t, "T1")
	f.Tenant(t, "S")
	const n = 50
	var wg sync.WaitGroup
	orders := make([]*domain.Order, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			orders[i], errs[i] = f.Svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{
				TenantID: int64(1 + i%2), CustomerName: "Budi",
				Items: []domain.Item{{Name: "Nasi Goreng", Quantity: 1, UnitPrice: 25000}},
			})
		}()
	}
	wg.Wait()
	numbers := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		if numbers[orders[i].OrderNumber] {
			t.Fatalf("duplicate order number %s", orders[i].OrderNumber)
		}
		numbers[orders[i].OrderNumber] = true
	}
	for i := 1; i <= n/2; i++ {
		for _, code := range []string{"T1", "S"} {
			if num := domain.OrderNumber(code, int64(i)); !numbers[num] {
				t.Errorf("missing order number %s: numbers must be consecutive", num)
			}
		}
	}
	published := col.Events()
	if len(published) != n {
		t.Fatalf("%d events handed to Committed, want %d", len(published), n)
	}
	perOrder := map[int64]int{}
	for i, ev := range published {
		if i > 0 && ev.ID <= published[i-1].ID {
			t.Fatalf("event ids not increasing in Committed order: %d after %d", ev.ID, published[i-1].ID)
		}
		if ev.Name != domain.EventOrderCreated {
			t.Fatalf("event %s", ev.Name)
		}
		var d domain.OrderCreatedData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		perOrder[d.OrderID]++
	}
	for _, o := range orders {
		if perOrder[o.ID] != 1 {
			t.Errorf("order %d has %d events", o.ID, perOrder[o.ID])
		}
	}
	logged, err := f.Store.ReadLog(ctx, 0, 1000)
	if err != nil || len(logged) != n {
		t.Fatalf("log has %d events, %v", len(logged), err)
	}
	for i, ev := range logged {
		if ev.ID != int64(i+1) {
			t.Fatalf("log id %d at position %d: ids must be 1..%d", ev.ID, i, n)
		}
		if len(ev.Rooms) == 0 {
			t.Fatalf("ReadLog event %d without rooms", ev.ID)
		}
	}
	if head, err := f.Store.LastEventID(ctx); err != nil || head != n {
		t.Fatalf("LastEventID %d, %v; want %d", head, err, n)
	}
}

func testRollbackWritesNoEvent(t *testing.T, b Backend) {
	var col Collector
	f := NewFixture(t, b, store.Options{Committed: col.Committed})
	ctx := context.Background()
	// Unknown tenant: the transaction fails after its sequence update.
	_, err := f.Svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{TenantID: 9, CustomerName: "x", Items: []domain.Item{{Name: "a", Quantity: 1}}})
	if domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("err %v, want not_found", err)
	}
	// An event appended, then the write fails: its id is given back.
	err = f.Store.Write(ctx, func(tx store.Tx) error {
		if _, err := tx.AppendEvent(domain.NewEvent(domain.EventNotification, "x", tx.Now(), nil, "user:1")); err != nil {
			return err
		}
		return errors.New("changed my mind")
	})
	if err == nil {
		t.Fatal("a write whose function failed reported success")
	}
	if n := len(col.Events()); n != 0 {
		t.Fatalf("%d events handed to Committed for failed writes", n)
	}
	if head, _ := f.Store.LastEventID(ctx); head != 0 {
		t.Fatalf("log head %d after failed writes", head)
	}
	ev, err := f.Svc.Alert(ctx, auth.Anonymous, "info", "after")
	if err != nil || ev.ID != 1 {
		t.Fatalf("first committed event has id %d, %v; want 1", ev.ID, err)
	}
}

// A write that fails half-way, or whose function panics, keeps nothing and
// leaves the store usable.
func testFailedWriteLeavesStoreUsable(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	insertThen := func(code string, then func()) error {
		return f.Store.Write(ctx, func(tx store.Tx) error {
			if _, err := tx.InsertTenant("Warung "+code, code); err != nil {
				return err
			}
			if _, err := tx.AppendEvent(domain.NewEvent(domain.EventNotification, "x", tx.Now(), nil, "user:1")); err != nil {
				return err
			}
			then()
			return errors.New("changed my mind")
		})
	}
	if err := insertThen("A", func() {}); err == nil {
		t.Fatal("a write whose function failed reported success")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_ = insertThen("B", func() { panic("bug") })
	}()
	for range 3 { // more than one: no connection or lock was left behind
		if _, err := f.Svc.Alert(ctx, auth.Anonymous, "info", "still here"); err != nil {
			t.Fatalf("write after a failed and a panicking write: %v", err)
		}
	}
	f.Tenant(t, "C")
	ts, err := f.Store.Tenants(ctx)
	if err != nil || len(ts) != 1 || ts[0].Code != "C" {
		t.Fatalf("tenants %+v, %v; want only C", ts, err)
	}
	if head, _ := f.Store.LastEventID(ctx); head != 3 {
		t.Fatalf("log head %d, want 3", head)
	}
}

// A request that is gone before its write begins changes nothing; once
// begun, a write is not cut short by its request's context.
func testWriteContext(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Svc.CreateTenant(gone, auth.Anonymous, "Warung", "A"); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with a cancelled context: %v, want context.Canceled", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := f.Store.Write(ctx, func(tx store.Tx) error {
		cancel()
		if _, err := tx.InsertTenant("Warung", "B"); err != nil {
			return err
		}
		_, err := tx.InsertCounter("Kasir")
		return err
	})
	if err != nil {
		t.Fatalf("write cancelled after it began: %v", err)
	}
	ts, err := f.Store.Tenants(context.Background())
	if err != nil || len(ts) != 1 || ts[0].Code != "B" {
		t.Fatalf("tenants %+v, %v; want only B", ts, err)
	}
}

func testOrdersAndReads(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	t1, t2 := f.Tenant(t, "T1"), f.Tenant(t, "T2")
	if _, err := f.Svc.CreateTenant(ctx, auth.Anonymous, "Again", "T1"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("duplicate tenant code: %v, want conflict", err)
	}
	if tn, err := f.Store.Tenant(ctx, t2.ID); err != nil || tn.Code != "T2" {
		t.Fatalf("Tenant(%d) = %+v, %v", t2.ID, tn, err)
	}
	if _, err := f.Store.Tenant(ctx, 99); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("Tenant(99): %v, want not_found", err)
	}
	c := f.Counter(t)
	if cs, err := f.Store.Counters(ctx); err != nil || len(cs) != 1 || cs[0].ID != c.ID {
		t.Fatalf("Counters %+v, %v", cs, err)
	}
	o1 := f.Order(t, t1.ID, 10000)
	o2 := f.Order(t, t2.ID, 20000)
	o3 := f.Order(t, t1.ID, 30000)
	if _, err := f.Pay(ctx, o3, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Svc.SetStatus(ctx, auth.Anonymous, o1.ID, domain.StatusPreparing); err != nil {
		t.Fatal(err)
	}
	got, err := f.Store.Order(ctx, o3.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.OrderNumber != "T1-002" || got.TotalAmount != 30000 || got.PaidAmount != 30000 || len(got.Items) != 1 ||
		len(got.Payments) != 1 || got.QR == nil || got.QR.Token != o3.QR.Token {
		t.Fatalf("Order(%d) = %+v", o3.ID, got)
	}
	if _, err := f.Store.Order(ctx, 99); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("Order(99): %v, want not_found", err)
	}
	ids := func(os []domain.Order) (out []int64) {
		for _, o := range os {
			out = append(out, o.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.OrderFilter
		want []int64
	}{
		{store.OrderFilter{}, []int64{o1.ID, o2.ID, o3.ID}},
		{store.OrderFilter{TenantID: t1.ID}, []int64{o1.ID, o3.ID}},
		{store.OrderFilter{Statuses: []domain.Status{domain.StatusPending}}, []int64{o2.ID, o3.ID}},
		{store.OrderFilter{Unpaid: true}, []int64{o1.ID, o2.ID}},
		{store.OrderFilter{Limit: 2}, []int64{o2.ID, o3.ID}}, // the newest, oldest first
	} {
		os, head, err := f.Store.Orders(ctx, tc.f)
		if err != nil || fmt.Sprint(ids(os)) != fmt.Sprint(tc.want) {
			t.Errorf("Orders(%+v) = %v, %v; want %v", tc.f, ids(os), err, tc.want)
		}
		if last, _ := f.Store.LastEventID(ctx); head != last || head == 0 {
			t.Errorf("Orders head %d, log head %d", head, last)
		}
	}
	// Payments: by id, by counter (a refund counts for its payment's).
	pays, err := f.Store.Payments(ctx, store.PaymentFilter{CounterID: c.ID})
	if err != nil || len(pays) != 1 || pays[0].OrderID != o3.ID || pays[0].TenantID != t1.ID || pays[0].OrderNumber != o3.OrderNumber {
		t.Fatalf("Payments(counter) = %+v, %v", pays, err)
	}
	if _, err := f.Svc.Refund(ctx, auth.Anonymous, pays[0].ID, "spilt", 1000); err != nil {
		t.Fatal(err)
	}
	pays, err = f.Store.Payments(ctx, store.PaymentFilter{CounterID: c.ID})
	if err != nil || len(pays) != 2 || pays[1].Kind != domain.KindRefund || pays[1].OriginalPaymentID != pays[0].ID {
		t.Fatalf("Payments(counter) after a refund = %+v, %v", pays, err)
	}
	if pays, err := f.Store.Payments(ctx, store.PaymentFilter{SinceID: pays[0].ID}); err != nil || len(pays) != 1 {
		t.Fatalf("Payments(since) = %+v, %v", pays, err)
	}
	if pays, err := f.Store.Payments(ctx, store.PaymentFilter{CounterID: c.ID + 1}); err != nil || len(pays) != 0 {
		t.Fatalf("Payments(other counter) = %+v, %v", pays, err)
	}
}

func testPayOnce(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	tn, c := f.Tenant(t, "T1"), f.Counter(t)
	o := f.Order(t, tn.ID, 25000)
	p, err := f.Pay(ctx, o, c.ID)
	if err != nil || p.Amount != 25000 || p.CounterID != c.ID {
		t.Fatalf("pay: %+v, %v", p, err)
	}
	if _, err := f.Pay(ctx, o, c.ID); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("second payment: %v, want conflict", err)
	}
	// The database refuses it too, whatever the service checked.
	err = f.Store.Write(ctx, func(tx store.Tx) error {
		return tx.InsertPayment(&domain.Payment{Kind: domain.KindPayment, OrderID: o.ID, CounterID: c.ID, Method: "cash",
			Amount: 1, Status: "success", Reference: "dup", CreatedAt: tx.Now()})
	})
	if domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("second successful payment row: %v, want conflict", err)
	}
	if _, err := f.Pay(ctx, &domain.Order{ID: 99, TotalAmount: 1}, c.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("pay unknown order: %v, want not_found", err)
	}
	o2 := f.Order(t, tn.ID, 1000)
	if _, err := f.Pay(ctx, o2, 99); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("pay at an unknown counter: %v, want not_found", err)
	}
}

func testRefunds(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	tn, c := f.Tenant(t, "T1"), f.Counter(t)
	o := f.Order(t, tn.ID, 10000)
	p, err := f.Pay(ctx, o, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Svc.Refund(ctx, auth.Anonymous, p.ID, "cold", 4000); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Svc.Refund(ctx, auth.Anonymous, p.ID, "more", 7000); domain.ErrorCode(err) != domain.CodeUnprocessable {
		t.Fatalf("refund beyond what is left: %v, want unprocessable", err)
	}
	r, err := f.Svc.Refund(ctx, auth.Anonymous, p.ID, "the rest", 0)
	if err != nil || r.Amount != 6000 {
		t.Fatalf("refund of the rest: %+v, %v; want 6000", r, err)
	}
	if _, err := f.Svc.Refund(ctx, auth.Anonymous, p.ID, "again", 0); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("refund of a fully refunded payment: %v, want conflict", err)
	}
	if _, err := f.Svc.Refund(ctx, auth.Anonymous, r.ID, "a refund", 0); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("refund of a refund: %v, want conflict", err)
	}
	if _, err := f.Svc.Refund(ctx, auth.Anonymous, 99, "none", 0); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("refund of an unknown payment: %v, want not_found", err)
	}
	got, err := f.Store.Order(ctx, o.ID)
	if err != nil || got.Refunded != 10000 || len(got.Payments) != 3 || got.Payments[0].Refunded != 10000 {
		t.Fatalf("order after refunds: %+v, %v", got, err)
	}
	// The database refuses an over-refund too.
	err = f.Store.Write(ctx, func(tx store.Tx) error { return tx.AddRefunded(p.ID, 1) })
	if err == nil {
		t.Fatal("refunded more than the payment's amount")
	}
}

func testCancelRefundsTheRest(t *testing.T, b Backend) {
	var col Collector
	f := NewFixture(t, b, store.Options{Committed: col.Committed})
	ctx := context.Background()
	tn, c := f.Tenant(t, "T1"), f.Counter(t)
	o := f.Order(t, tn.ID, 10000)
	p, err := f.Pay(ctx, o, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Svc.Refund(ctx, auth.Anonymous, p.ID, "cold", 3000); err != nil {
		t.Fatal(err)
	}
	got, err := f.Svc.Cancel(ctx, auth.Anonymous, o.ID, "closed")
	if err != nil || got.Status != domain.StatusCancelled || got.Refunded != 10000 {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	evs := col.Events()
	if n := len(evs); n < 2 || evs[n-2].Name != domain.EventPaymentRefunded || evs[n-1].Name != domain.EventOrderCancelled {
		t.Fatalf("events %+v; want payment:refunded then order:cancelled last", evs)
	}
	if _, err := f.Pay(ctx, o, c.ID); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("pay a cancelled order: %v, want conflict", err)
	}
}

func testScanQR(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	tn := f.Tenant(t, "T1")
	o := f.Order(t, tn.ID, 1000)
	for _, st := range []domain.Status{domain.StatusPreparing, domain.StatusReady} {
		if _, err := f.Svc.SetStatus(ctx, auth.Anonymous, o.ID, st); err != nil {
			t.Fatal(err)
		}
	}
	q, err := f.Svc.ScanQR(ctx, auth.Anonymous, o.QR.Token)
	if err != nil || q.ScannedCount != 1 || q.Status != domain.QRScanned || q.LastScanned == nil {
		t.Fatalf("scan: %+v, %v", q, err)
	}
	if _, err := f.Svc.ScanQR(ctx, auth.Anonymous, "nope"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("scan an unknown token: %v, want not_found", err)
	}
	got, err := f.Store.Order(ctx, o.ID)
	if err != nil || got.QR.ScannedCount != 1 {
		t.Fatalf("order after scan: %+v, %v", got, err)
	}
}

// Every order gets a short pickup code: stored, read back with the order,
// unique, and scanned like its QR token, in any case and with a dash.
func testPickupCode(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	tn := f.Tenant(t, "T1")
	seen := map[string]bool{}
	var first *domain.Order
	for i := range 20 {
		o := f.Order(t, tn.ID, 1000)
		if i == 0 {
			first = o
		}
		c, ok := domain.NormalizePickupCode(o.QR.Code)
		if !ok || c != o.QR.Code || seen[c] {
			t.Fatalf("order %d has pickup code %q (well-formed %v, already seen %v)", o.ID, o.QR.Code, ok, seen[c])
		}
		seen[c] = true
		got, err := f.Store.Order(ctx, o.ID)
		if err != nil || got.QR == nil || got.QR.Code != o.QR.Code {
			t.Fatalf("order %d read back with QR %+v (%v), want code %q", o.ID, got.QR, err, o.QR.Code)
		}
	}
	// The database itself refuses a second order with the same code.
	err := f.Store.Write(ctx, func(tx store.Tx) error {
		seq, number, err := tx.NextOrderNumber(tn.ID)
		if err != nil {
			return err
		}
		now := tx.Now()
		return tx.InsertOrder(&domain.Order{TenantID: tn.ID, OrderNumber: number, CustomerName: "x", Status: domain.StatusPending,
			TotalAmount: 1, CreatedAt: now, UpdatedAt: now, Items: []domain.Item{{Name: "x", Quantity: 1, UnitPrice: 1, Subtotal: 1}},
			QR: &domain.QRCode{Token: domain.NewQRToken(), Code: first.QR.Code, Status: domain.QRActive}}, seq)
	})
	if err == nil {
		t.Fatalf("a second order took pickup code %s", first.QR.Code)
	}
	typed := strings.ToLower(first.QR.Code[:3]) + "-" + first.QR.Code[3:]
	q, err := f.Svc.ScanCode(ctx, auth.Anonymous, typed)
	if err != nil || q.OrderID != first.ID || q.ScannedCount != 1 {
		t.Fatalf("scan by code %q: %+v, %v", typed, q, err)
	}
	if _, err := f.Svc.ScanCode(ctx, auth.Anonymous, "OOOOOO"); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("scan of a code with O: %v, want invalid", err)
	}
	var unknown string
	for unknown = "AAAAAA"; seen[unknown]; unknown = domain.NewPickupCode() {
	}
	if _, err := f.Svc.ScanCode(ctx, auth.Anonymous, unknown); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("scan an unknown code: %v, want not_found", err)
	}
}

// Idempotency keys are per token: the same name from two tokens is two
// keys; the same token twice is a race the database refuses.
func testIdempotencyPerToken(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	for _, tok := range []int64{7, 8} {
		err := f.Store.Write(ctx, func(tx store.Tx) error {
			if used, err := tx.IdempotencyUsed(tok, "k"); err != nil || used {
				return fmt.Errorf("token %d: key k used %v before it stored it, %v", tok, used, err)
			}
			return tx.PutIdempotency(tok, "k", store.IdempotentResult{RequestHash: fmt.Sprint("h", tok), Status: 201, Body: []byte(`{"a":1}`)})
		})
		if err != nil {
			t.Fatalf("token %d: %v", tok, err)
		}
	}
	for _, tok := range []int64{7, 8} {
		r, err := f.Store.Idempotency(ctx, tok, "k")
		if err != nil || r == nil || r.RequestHash != fmt.Sprint("h", tok) || r.Status != 201 || string(r.Body) != `{"a":1}` {
			t.Fatalf("token %d: %+v, %v", tok, r, err)
		}
	}
	if r, err := f.Store.Idempotency(ctx, 9, "k"); err != nil || r != nil {
		t.Fatalf("token 9 sees another token's key: %+v, %v", r, err)
	}
	err := f.Store.Write(ctx, func(tx store.Tx) error {
		if used, err := tx.IdempotencyUsed(7, "k"); err != nil || !used {
			return fmt.Errorf("stored key reads as unused: %v, %v", used, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = f.Store.Write(ctx, func(tx store.Tx) error {
		return tx.PutIdempotency(7, "k", store.IdempotentResult{RequestHash: "x", Status: 201, Body: []byte("{}")})
	})
	if !errors.Is(err, store.ErrIdempotencyRace) {
		t.Fatalf("second put of token 7's key: %v, want ErrIdempotencyRace", err)
	}
}

// Twin requests (same token, same key) sent at once: exactly one acts;
// every other is told it raced, to be answered with the first response
// (not refused as a conflict because the first one paid already).
func testIdempotentTwins(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	tn, c := f.Tenant(t, "T1"), f.Counter(t)
	const twins, rounds = 6, 5
	warm(t, f.Store, twins)
	for round := range rounds {
		o := f.Order(t, tn.ID, 5000)
		key := fmt.Sprint("pay-", round)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, twins)
		for i := range twins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				kctx := service.WithIdempotency(ctx, service.Idempotency{TokenID: 3, Key: key, RequestHash: "h", Status: 201})
				<-start
				_, errs[i] = f.Pay(kctx, o, c.ID)
			}()
		}
		close(start)
		wg.Wait()
		acted := 0
		for i, err := range errs {
			switch {
			case err == nil:
				acted++
			case service.IsIdempotencyRace(err):
			default:
				t.Errorf("round %d, twin %d: %v; want success or an idempotency race", round, i, err)
			}
		}
		if acted != 1 {
			t.Fatalf("round %d: %d twins acted, want 1", round, acted)
		}
		if r, err := f.Store.Idempotency(ctx, 3, key); err != nil || r == nil || r.Status != 201 {
			t.Fatalf("stored response %+v, %v", r, err)
		}
	}
}

// warm has n reads in flight at once, so that a backend with a connection
// pool has n connections open and concurrent writes start together.
func warm(t *testing.T, s store.Store, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Orders(context.Background(), store.OrderFilter{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func testTokens(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	if n, err := f.Store.CountTokens(ctx); err != nil || n != 0 {
		t.Fatalf("CountTokens on a fresh database: %d, %v", n, err)
	}
	created := time.UnixMilli(1_800_000_000_000).UTC()
	exp := created.Add(time.Hour)
	a := &store.TokenRow{Hash: "ha", Role: "kasir", CounterID: 2, Label: "front", CreatedAt: created, ExpiresAt: &exp}
	d := &store.TokenRow{Hash: "hd", Role: "display", TenantID: 1, Display: true, CreatedAt: created}
	for _, r := range []*store.TokenRow{a, d} {
		if err := f.Store.InsertToken(ctx, r); err != nil || r.ID == 0 {
			t.Fatalf("insert %+v: %v", r, err)
		}
	}
	if n, err := f.Store.CountTokens(ctx); err != nil || n != 2 {
		t.Fatalf("CountTokens %d, %v", n, err)
	}
	got, err := f.Store.TokenByHash(ctx, "ha")
	if err != nil || got == nil || got.ID != a.ID || got.Role != "kasir" || got.CounterID != 2 || got.Label != "front" ||
		!got.CreatedAt.Equal(created) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.RevokedAt != nil {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	if got, err := f.Store.TokenByID(ctx, d.ID); err != nil || got == nil || !got.Display || got.TenantID != 1 || got.ExpiresAt != nil {
		t.Fatalf("TokenByID = %+v, %v", got, err)
	}
	if got, err := f.Store.TokenByHash(ctx, "nope"); err != nil || got != nil {
		t.Fatalf("unknown hash: %+v, %v; want nil, nil", got, err)
	}
	if got, err := f.Store.TokenByID(ctx, 99); err != nil || got != nil {
		t.Fatalf("unknown id: %+v, %v; want nil, nil", got, err)
	}
	at := created.Add(time.Minute)
	if ok, err := f.Store.RevokeToken(ctx, a.ID, at); err != nil || !ok {
		t.Fatalf("revoke: %v, %v", ok, err)
	}
	if ok, err := f.Store.RevokeToken(ctx, a.ID, at.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("revoke again: %v, %v", ok, err)
	}
	if ok, err := f.Store.RevokeToken(ctx, 99, at); err != nil || ok {
		t.Fatalf("revoke an unknown token: %v, %v; want false", ok, err)
	}
	all, err := f.Store.Tokens(ctx)
	if err != nil || len(all) != 2 || all[0].ID != a.ID || all[0].RevokedAt == nil || !all[0].RevokedAt.Equal(at) || all[1].RevokedAt != nil {
		t.Fatalf("Tokens = %+v, %v; want a revoked at its first revocation", all, err)
	}
}

func testEventsByRoom(t *testing.T, b Backend) {
	f := NewFixture(t, b, store.Options{})
	ctx := context.Background()
	add := func(rooms ...string) {
		t.Helper()
		err := f.Store.Write(ctx, func(tx store.Tx) error {
			_, err := tx.AppendEvent(domain.Event{Name: domain.EventNotification, Type: "x", Data: []byte(`{"n":1}`), Rooms: rooms})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add("tenant:1", "display") // 1
	add("tenant:2")            // 2
	add(domain.RoomAll)        // 3
	add("tenant:1")            // 4
	// Two events in one write get consecutive ids.
	err := f.Store.Write(ctx, func(tx store.Tx) error {
		e1, err := tx.AppendEvent(domain.NewEvent(domain.EventNotification, "x", tx.Now(), nil, "user:1"))
		if err != nil {
			return err
		}
		e2, err := tx.AppendEvent(domain.NewEvent(domain.EventNotification, "x", tx.Now(), nil, "user:1"))
		if err == nil && (e1.ID != 5 || e2.ID != 6) {
			err = fmt.Errorf("ids %d, %d; want 5, 6", e1.ID, e2.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(evs []domain.Event) (out []int64) {
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	for _, tc := range []struct {
		after int64
		rooms []string
		limit int
		want  []int64
	}{
		{0, nil, 0, []int64{1, 2, 3, 4, 5, 6}},
		{0, []string{"tenant:1"}, 0, []int64{1, 3, 4}}, // with the alert to everyone
		{1, []string{"tenant:1", "display"}, 0, []int64{3, 4}},
		{0, []string{"tenant:1", "tenant:2"}, 2, []int64{1, 2}},
		{0, []string{}, 0, []int64{3}}, // no rooms: only what goes to everyone
		{6, nil, 0, nil},
	} {
		got, err := f.Store.ReadEvents(ctx, tc.after, tc.rooms, tc.limit)
		if err != nil || fmt.Sprint(ids(got)) != fmt.Sprint(tc.want) {
			t.Errorf("ReadEvents(%d, %q, %d) = %v, %v; want %v", tc.after, tc.rooms, tc.limit, ids(got), err, tc.want)
		}
	}
	log, err := f.Store.ReadLog(ctx, 2, 2)
	if err != nil || fmt.Sprint(ids(log)) != "[3 4]" || fmt.Sprint(log[0].Rooms) != "[*]" || string(log[1].Data) != `{"n":1}` {
		t.Fatalf("ReadLog(2, 2) = %+v, %v", log, err)
	}
	first, err := f.Store.ReadLog(ctx, 0, 1)
	if err != nil || len(first) != 1 || fmt.Sprint(first[0].Rooms) != "[tenant:1 display]" || first[0].Name != domain.EventNotification {
		t.Fatalf("ReadLog(0, 1) = %+v, %v", first, err)
	}
}

// clocked opens a store whose clock reads *clock, for tests that age the
// log; alert and notify write one event each.
func clocked(t *testing.T, b Backend, clock *time.Time) *Fixture {
	t.Helper()
	var mu sync.Mutex
	return NewFixture(t, b, store.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return *clock
	}})
}

func alert(t *testing.T, f *Fixture) {
	t.Helper()
	if _, err := f.Svc.Alert(context.Background(), auth.Anonymous, "info", "old"); err != nil {
		t.Fatal(err)
	}
}

func notify(t *testing.T, f *Fixture, user int64) {
	t.Helper()
	if _, err := f.Svc.Notify(context.Background(), auth.Anonymous, user, "t", nil); err != nil {
		t.Fatal(err)
	}
}

// A prune stops at the first event young enough to keep. Should the clock
// have stepped back, an old event behind it stays until a later prune: an
// event is kept at least as long as asked, never less.
func testPruneStopsAtTheFirstYoungEvent(t *testing.T, b Backend) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour)
	f := clocked(t, b, &clock)
	ctx := context.Background()
	alert(t, f) // 1: old
	alert(t, f) // 2: old
	clock = now.Add(-time.Hour)
	alert(t, f) // 3: young
	clock = now.Add(-47 * time.Hour)
	notify(t, f, 1) // 4: old, written after the clock stepped back
	clock = now
	notify(t, f, 1) // 5: young; with it, 4 is not its room's newest
	n, err := f.Store.Prune(ctx, now.Add(-24*time.Hour), 1)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	left, _ := f.Store.ReadEvents(ctx, 0, nil, 100)
	if len(left) != 3 || left[0].ID != 3 || left[1].ID != 4 {
		t.Fatalf("left %+v; want events 3, 4 and 5", left)
	}
	// Once event 3 is old too, 4 goes; 3 and 5 are their rooms' newest.
	n, err = f.Store.Prune(ctx, now.Add(time.Hour), 1)
	if err != nil || n != 1 {
		t.Fatalf("second prune %d, %v; want 1", n, err)
	}
}

func testPruneKeepsNewestPerRoom(t *testing.T, b Backend) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour)
	f := clocked(t, b, &clock)
	ctx := context.Background()
	// 30 old alerts (room *), 5 old notifications for user 1: all 2 days old.
	for range 30 {
		alert(t, f)
	}
	for range 5 {
		notify(t, f, 1)
	}
	clock = now
	n, err := f.Store.Prune(ctx, now.Add(-24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the newest 10 of room * and all 5 of user-1 (fewer than 10).
	if n != 20 {
		t.Fatalf("pruned %d, want 20", n)
	}
	if horizon, _ := f.Store.Horizon(ctx); horizon != 20 {
		t.Fatalf("horizon %d, want 20 (the highest pruned id)", horizon)
	}
	left, _ := f.Store.ReadEvents(ctx, 0, nil, 100)
	if len(left) != 15 || left[0].ID != 21 {
		t.Fatalf("left %d events starting at %d", len(left), left[0].ID)
	}
	// Pruning never rewinds the log: the next event still gets the next id.
	alert(t, f)
	if head, _ := f.Store.LastEventID(ctx); head != 36 {
		t.Fatalf("log head %d after a prune and one more event, want 36", head)
	}
}

// Old events that keep-per-room keeps (here one notification for each of
// many users, fewer than the limit each) can fill the first batches a prune
// reads; it steps over them to the prunable events behind.
func testPruneStepsOverKeptEvents(t *testing.T, b Backend) {
	if b.SetPruneBatchSize != nil {
		defer b.SetPruneBatchSize(5)() // reads 20 candidates a batch
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour)
	f := clocked(t, b, &clock)
	ctx := context.Background()
	for user := range int64(30) {
		notify(t, f, user+1)
	}
	for range 20 {
		alert(t, f)
	}
	clock = now
	n, err := f.Store.Prune(ctx, now.Add(-24*time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 18 {
		t.Fatalf("pruned %d, want the 18 alerts beyond the newest 2", n)
	}
	left, _ := f.Store.ReadEvents(ctx, 0, nil, 100)
	if len(left) != 32 || left[30].ID != 49 {
		t.Fatalf("left %d events (want 30 notifications and alerts 49, 50)", len(left))
	}
}

func testPruneIdempotency(t *testing.T, b Backend) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour)
	f := clocked(t, b, &clock)
	ctx := context.Background()
	put := func(key string) {
		t.Helper()
		err := f.Store.Write(ctx, func(tx store.Tx) error {
			return tx.PutIdempotency(1, key, store.IdempotentResult{RequestHash: "h", Status: 200, Body: []byte("{}")})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("old")
	clock = now
	put("new")
	n, err := f.Store.PruneIdempotency(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d keys, %v; want 1", n, err)
	}
	if r, _ := f.Store.Idempotency(ctx, 1, "old"); r != nil {
		t.Fatal("the old key is still there")
	}
	if r, _ := f.Store.Idempotency(ctx, 1, "new"); r == nil {
		t.Fatal("the new key is gone")
	}
}

// Retention records its horizon per room: events to everyone count for
// every room, a room whose events were kept has none.
func testHorizonForRooms(t *testing.T, b Backend) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clock := now
	f := clocked(t, b, &clock)
	add := func(s store.Store, rooms ...string) {
		t.Helper()
		err := s.Write(ctx, func(tx store.Tx) error {
			_, err := tx.AppendEvent(domain.Event{Name: domain.EventNotification, Type: "x", Data: []byte(`{}`), Rooms: rooms})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s := f.Store
	add(s, "tenant-1", "display") // 1
	add(s, "tenant-1", "display") // 2
	add(s, "tenant-2")            // 3: tenant-2 keeps it (keep 2)
	add(s, domain.RoomAll)        // 4: an alert
	add(s, "tenant-1", "display") // 5
	add(s, "tenant-1", "display") // 6
	add(s, domain.RoomAll)        // 7
	add(s, domain.RoomAll)        // 8
	// Everything is old; keep the newest 2 of each room.
	n, err := s.Prune(ctx, now.Add(time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // 1, 2 and 4
		t.Fatalf("pruned %d events, want 3", n)
	}
	for _, tc := range []struct {
		rooms []string
		want  int64
	}{
		{nil, 4},
		{[]string{"tenant-1"}, 4}, // the alert 4 counts for everyone
		{[]string{"tenant-2"}, 4},
		{[]string{}, 4},
	} {
		got, err := s.HorizonFor(ctx, tc.rooms)
		if err != nil || got != tc.want {
			t.Errorf("HorizonFor(%q) = %d, %v; want %d", tc.rooms, got, err, tc.want)
		}
	}

	// Without an alert among the pruned, rooms differ.
	s = clocked(t, b, &clock).Store
	add(s, "tenant-1", "display") // 1
	add(s, "tenant-2")            // 2
	add(s, "tenant-1", "display") // 3
	add(s, "tenant-1", "display") // 4
	if _, err := s.Prune(ctx, now.Add(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rooms []string
		want  int64
	}{
		{nil, 1},
		{[]string{"tenant-1"}, 1},
		{[]string{"display"}, 1},
		{[]string{"tenant-2"}, 0},
		{[]string{"tenant-2", "kasir-1"}, 0},
		{[]string{"tenant-2", "display"}, 1},
	} {
		got, err := s.HorizonFor(ctx, tc.rooms)
		if err != nil || got != tc.want {
			t.Errorf("HorizonFor(%q) = %d, %v; want %d", tc.rooms, got, err, tc.want)
		}
	}
}

// Recovery records survive closing and reopening the store and are
// claimed once, by their token, while they have not expired.
func testRecoveryRecordsAcrossARestart(t *testing.T, b Backend) {
	ctx := context.Background()
	f := NewFixture(t, b, store.Options{})
	s := f.Store
	now := time.UnixMilli(1_800_000_000_000).UTC()
	keep := store.RecoverySession{PID: "p1", ID: "s1", TokenID: 7, Rooms: []string{"tenant-1", "display"}, Base: 41, Expires: now.Add(time.Minute), Owner: "nodea", Gen: 1}
	gone := store.RecoverySession{PID: "p2", ID: "s2", TokenID: 7, Rooms: []string{}, Base: 3, Expires: now.Add(-time.Second), Owner: "nodea", Gen: 1}
	for _, r := range []store.RecoverySession{keep, gone} {
		if err := s.PutRecovery(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = f.Open(t, store.Options{})
	defer s.Close()
	if got, err := s.ClaimRecovery(ctx, "p1", 8, now); err != nil || got != nil {
		t.Fatalf("claim by another token: %+v, %v; want nothing", got, err)
	}
	got, err := s.ClaimRecovery(ctx, "p1", 7, now)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || fmt.Sprint(*got) != fmt.Sprint(keep) {
		t.Fatalf("claimed %+v, want %+v", got, keep)
	}
	if again, err := s.ClaimRecovery(ctx, "p1", 7, now); err != nil || again != nil {
		t.Fatalf("second claim: %+v, %v; want nothing (a record recovers once)", again, err)
	}
	if exp, err := s.ClaimRecovery(ctx, "p2", 7, now); err != nil || exp != nil {
		t.Fatalf("expired record claimed: %+v, %v", exp, err)
	}
}

// A claim starts a new generation: the old holder's late writes (its
// disconnect, a leave, a stale put) change nothing.
func testRecoveryGenerations(t *testing.T, b Backend) {
	ctx := context.Background()
	s := NewFixture(t, b, store.Options{}).Store
	now := time.UnixMilli(1_800_000_000_000).UTC()
	old := store.RecoverySession{PID: "p", ID: "s", TokenID: 1, Rooms: []string{"tenant-1"}, Base: 5, Expires: now.Add(time.Minute), Owner: "a", Gen: 1}
	if err := s.PutRecovery(ctx, old); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimRecovery(ctx, "p", 1, now)
	if err != nil || c == nil || c.Gen != 1 {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	next := *c
	next.Owner, next.Gen, next.Expires = "b", c.Gen+1, now.Add(time.Minute)
	if err := s.PutRecovery(ctx, next); err != nil {
		t.Fatal(err)
	}
	// Node a, late: its disconnect, its leave, a put of its generation.
	if err := s.UpdateRecovery(ctx, "p", 1, []string{}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecovery(ctx, "p", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecovery(ctx, old); err != nil {
		t.Fatal(err)
	}
	// Node b's own writes take.
	if err := s.UpdateRecovery(ctx, "p", 2, []string{"tenant-1", "display"}, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimRecovery(ctx, "p", 1, now)
	if err != nil || got == nil {
		t.Fatalf("claim of generation 2: %+v, %v", got, err)
	}
	if got.Gen != 2 || got.Owner != "b" || fmt.Sprint(got.Rooms) != "[tenant-1 display]" || !got.Expires.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("claimed %+v: want generation 2 of node b with its rooms and expiry", got)
	}
	if err := s.PutRecovery(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecovery(ctx, "p", 2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimRecovery(ctx, "p", 1, now); err != nil || got != nil {
		t.Fatalf("claimed a deleted record: %+v, %v", got, err)
	}
}

// Of many claims at once, from two connections to the database (two
// nodes), exactly one gets the record.
func testRecoveryClaimedOnce(t *testing.T, b Backend) {
	ctx := context.Background()
	f := NewFixture(t, b, store.Options{})
	other := f.Open(t, store.Options{})
	defer other.Close()
	now := time.UnixMilli(1_800_000_000_000).UTC()
	for round := range 20 {
		pid := fmt.Sprintf("p%d", round)
		if err := f.Store.PutRecovery(ctx, store.RecoverySession{PID: pid, ID: "s", TokenID: 1, Rooms: []string{}, Expires: now.Add(time.Minute), Gen: 1}); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			st := f.Store
			if i%2 == 1 {
				st = other
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := st.ClaimRecovery(ctx, pid, 1, now)
				if err != nil {
					t.Error(err)
				}
				if r != nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d claims got the record, want 1", round, n)
		}
	}
}

// A node refreshes its own records in one statement; expired ones are
// pruned.
func testRecoveryTouchAndPrune(t *testing.T, b Backend) {
	ctx := context.Background()
	s := NewFixture(t, b, store.Options{})
	st := s.Store
	now := time.UnixMilli(1_800_000_000_000).UTC()
	for _, r := range []struct{ pid, owner string }{{"p1", "a"}, {"p2", "a"}, {"p3", "b"}} {
		if err := st.PutRecovery(ctx, store.RecoverySession{PID: r.pid, ID: "s", TokenID: 1, Rooms: []string{}, Expires: now.Add(time.Minute), Owner: r.owner, Gen: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.TouchRecovery(ctx, "a", []string{"p1", "p3"}, now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	later := now.Add(5 * time.Minute)
	n, err := st.PruneRecovery(ctx, later)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2 (p2 not touched, p3 not a's)", n, err)
	}
	if r, err := st.ClaimRecovery(ctx, "p1", 1, later); err != nil || r == nil {
		t.Fatalf("touched record: %+v, %v", r, err)
	}
}

// Every store on one database reads the same random cluster secret.
func testClusterSecret(t *testing.T, b Backend) {
	ctx := context.Background()
	f := NewFixture(t, b, store.Options{})
	a, err := f.Store.ClusterSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) < 32 {
		t.Fatalf("secret %q: want at least 32 random hex characters", a)
	}
	other := f.Open(t, store.Options{})
	defer other.Close()
	if got, err := other.ClusterSecret(ctx); err != nil || got != a {
		t.Fatalf("second store reads %q, %v; want %q", got, err, a)
	}
	g := NewFixture(t, b, store.Options{})
	if c, err := g.Store.ClusterSecret(ctx); err != nil || c == a {
		t.Fatalf("another database's secret %q, %v: want a different one", c, err)
	}
}

// The node registry: heartbeats upsert, round-trip every field, age into
// not live after NodeLiveFor and out of the table after NodeForgetAfter;
// a clean shutdown removes its node at once.
func testNodeRegistry(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	f := clocked(t, b, &clock)
	started := clock.Add(-time.Minute)
	a := store.NodeInfo{ID: "aaaaaaaa", Addr: "10.0.0.1:5000", StartedAt: started, Connections: 3,
		Rooms: map[string]int{"tenant-1": 2, "display": 1}, Delivered: 7}
	beat := func(n store.NodeInfo) {
		t.Helper()
		if err := f.Store.Heartbeat(ctx, n); err != nil {
			t.Fatalf("heartbeat %s: %v", n.ID, err)
		}
	}
	beat(a)
	beat(store.NodeInfo{ID: "bbbbbbbb", Addr: "10.0.0.2:5000", StartedAt: started})
	nodes, err := f.Store.Nodes(ctx)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes %+v, %v; want 2", nodes, err)
	}
	got := nodes[0]
	if got.ID != a.ID || got.Addr != a.Addr || !got.StartedAt.Equal(started) || !got.HeartbeatAt.Equal(clock) ||
		got.Connections != 3 || got.Delivered != 7 || len(got.Rooms) != 2 || got.Rooms["tenant-1"] != 2 || got.Rooms["display"] != 1 {
		t.Fatalf("node a read back as %+v", got)
	}
	if nodes[1].ID != "bbbbbbbb" || nodes[1].Rooms == nil || len(nodes[1].Rooms) != 0 {
		t.Fatalf("node b read back as %+v", nodes[1])
	}
	if addr, live, err := f.Store.NodeAddr(ctx, a.ID); err != nil || addr != a.Addr || !live {
		t.Fatalf("NodeAddr(a) = %q, %v, %v; want %q, live", addr, live, err, a.Addr)
	}
	if addr, live, err := f.Store.NodeAddr(ctx, "nobody00"); err != nil || addr != "" || live {
		t.Fatalf("NodeAddr(unknown) = %q, %v, %v", addr, live, err)
	}

	// Silent past NodeLiveFor: still listed, no longer live.
	clock = clock.Add(store.NodeLiveFor + time.Second)
	if _, live, _ := f.Store.NodeAddr(ctx, a.ID); live {
		t.Fatal("a node silent past NodeLiveFor is live")
	}
	a.Connections, a.Rooms = 5, map[string]int{"tenant-1": 5}
	beat(a) // upsert: back to live, new figures
	nodes, _ = f.Store.Nodes(ctx)
	if len(nodes) != 2 || nodes[0].Connections != 5 || len(nodes[0].Rooms) != 1 || !nodes[0].Live(clock) || nodes[1].Live(clock) {
		t.Fatalf("after a's second heartbeat: %+v", nodes)
	}

	// Silent past NodeForgetAfter: forgotten at the next heartbeat of anyone.
	clock = clock.Add(store.NodeForgetAfter + time.Second)
	beat(store.NodeInfo{ID: "cccccccc", Addr: "10.0.0.3:5000", StartedAt: clock})
	nodes, _ = f.Store.Nodes(ctx)
	if len(nodes) != 1 || nodes[0].ID != "cccccccc" {
		t.Fatalf("after an hour only c should be left: %+v", nodes)
	}
	if err := f.Store.RemoveNode(ctx, "cccccccc"); err != nil {
		t.Fatal(err)
	}
	if nodes, err := f.Store.Nodes(ctx); err != nil || len(nodes) != 0 {
		t.Fatalf("after RemoveNode: %+v, %v", nodes, err)
	}
	if err := f.Store.Broadcast(ctx, store.Command{Kind: store.CmdCloseRoom, From: "cccccccc", Room: "tenant-1"}); err != nil {
		t.Fatalf("broadcast: %v", err)
	}
}
