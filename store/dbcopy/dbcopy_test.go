package dbcopy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/dbcopy"
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/postgres/pgtest"
	"github.com/posd/posd/store/sqlite"
)

// rooms the comparison reads the log by.
var rooms = [][]string{nil, {"display"}, {"tenant-1"}, {"tenant-2"}, {"counter-1"}, {"user-7"}, {"kasir"}}

// fixture is what the SQLite database was given through the service.
type fixture struct {
	tokens   []auth.IssuedToken
	idemKey  string
	idemTok  int64
	recovery []store.RecoverySession
	now      time.Time
}

// buildSQLite fills a SQLite database the way a food court would: orders,
// payments, a partial and a full refund, a cancellation, a scan, alerts,
// notifications, tokens (one revoked), an idempotency record, recovery
// records; then retention deletes the older events.
func buildSQLite(t *testing.T, path string) fixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc := service.New(s, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var fx fixture
	toks := auth.NewTokens(s, nil, nil)
	for _, spec := range []auth.TokenSpec{
		{Role: auth.RoleAdmin, Label: "admin"},
		{Role: auth.RoleKasir, CounterID: 1},
		{Role: auth.RoleDisplay, Display: true, ExpiresIn: "720h"},
		{Role: auth.RoleTenant, TenantID: 2},
	} {
		it, err := toks.Create(ctx, spec)
		must(err)
		fx.tokens = append(fx.tokens, it)
	}
	must(toks.Revoke(ctx, fx.tokens[3].ID))

	for _, code := range []string{"T1", "T2"} {
		_, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung "+code, code)
		must(err)
	}
	c, err := svc.CreateCounter(ctx, auth.Anonymous, "Kasir 1")
	must(err)
	var orders []*domain.Order
	for i := range 12 {
		o, err := svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{
			TenantID: int64(1 + i%2), CustomerName: fmt.Sprint("Siti ", i),
			Items: []domain.Item{{Name: "Nasi Goreng", Quantity: 2, UnitPrice: 25000}, {Name: "Es Teh", Quantity: 1, UnitPrice: 5000, Notes: "less sugar"}},
		})
		must(err)
		orders = append(orders, o)
	}
	fx.idemKey, fx.idemTok = "pay-order-1", fx.tokens[1].ID
	var pays []*domain.Payment
	for i, o := range orders[:8] {
		pctx := ctx
		if i == 0 {
			pctx = service.WithIdempotency(ctx, service.Idempotency{TokenID: fx.idemTok, Key: fx.idemKey, RequestHash: "h1", Status: 201})
		}
		p, err := svc.Pay(pctx, auth.Anonymous, service.NewPayment{OrderID: o.ID, AmountPaid: 100000, PaymentMethod: "cash", CounterID: c.ID})
		must(err)
		pays = append(pays, p)
	}
	_, err = svc.Refund(ctx, auth.Anonymous, pays[1].ID, "wrong order", 5000)
	must(err)
	_, err = svc.Refund(ctx, auth.Anonymous, pays[2].ID, "customer left", 0)
	must(err)
	_, err = svc.Cancel(ctx, auth.Anonymous, orders[3].ID, "kitchen closed")
	must(err)
	_, err = svc.Cancel(ctx, auth.Anonymous, orders[9].ID, "customer left")
	must(err)
	for _, o := range orders[4:7] {
		_, err = svc.SetStatus(ctx, auth.Anonymous, o.ID, domain.StatusPreparing)
		must(err)
	}
	_, err = svc.ScanQR(ctx, auth.Anonymous, orders[5].QR.Token)
	must(err)
	_, err = svc.Alert(ctx, auth.Anonymous, "warning", "System maintenance in 5 minutes")
	must(err)
	_, err = svc.Notify(ctx, auth.Anonymous, 7, "order_ready", json.RawMessage(`{"order_id":1}`))
	must(err)

	// Retention: everything older than an hour from now, except each
	// room's newest two, goes; the horizons move.
	n, err := s.Prune(ctx, time.Now().Add(time.Hour), 2)
	must(err)
	if n == 0 {
		t.Fatal("the prune deleted nothing: the horizons would not be tested")
	}
	fx.now = time.Now().UTC().Truncate(time.Millisecond)
	fx.recovery = []store.RecoverySession{{PID: "p1", ID: "s1", TokenID: fx.tokens[2].ID, Rooms: []string{"display"}, Base: 5, Expires: fx.now.Add(time.Hour), Owner: "node1", Gen: 1}}
	must(s.PutRecovery(ctx, fx.recovery[0]))
	return fx
}

// snapshot is every read the service makes, of one store.
type snapshot struct {
	Tenants   []domain.Tenant
	Counters  []domain.Counter
	Orders    []domain.Order
	OrderHead int64
	ByID      []*domain.Order
	Payments  []domain.Payment
	Events    map[string][]domain.Event
	Log       []domain.Event
	Horizons  map[string]int64
	Last      int64
	Tokens    []store.TokenRow
	Idem      *store.IdempotentResult
}

func read(t *testing.T, s store.Store, fx fixture) snapshot {
	t.Helper()
	ctx := context.Background()
	var sn snapshot
	var err error
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sn.Tenants, err = s.Tenants(ctx)
	check(err)
	sn.Counters, err = s.Counters(ctx)
	check(err)
	sn.Orders, sn.OrderHead, err = s.Orders(ctx, store.OrderFilter{Limit: 1000})
	check(err)
	for _, o := range sn.Orders {
		full, err := s.Order(ctx, o.ID)
		check(err)
		sn.ByID = append(sn.ByID, full)
	}
	sn.Payments, err = s.Payments(ctx, store.PaymentFilter{Limit: 1000})
	check(err)
	sn.Events, sn.Horizons = map[string][]domain.Event{}, map[string]int64{}
	for _, r := range rooms {
		k := strings.Join(r, ",")
		sn.Events[k], err = s.ReadEvents(ctx, 0, r, 1000)
		check(err)
		sn.Horizons[k], err = s.HorizonFor(ctx, r)
		check(err)
	}
	sn.Log, err = s.ReadLog(ctx, 0, 1000)
	check(err)
	sn.Last, err = s.LastEventID(ctx)
	check(err)
	sn.Tokens, err = s.Tokens(ctx)
	check(err)
	sn.Idem, err = s.Idempotency(ctx, fx.idemTok, fx.idemKey)
	check(err)
	return sn
}

func TestCopyKeepsEverythingAClientHolds(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "posd.db")
	fx := buildSQLite(t, path)

	src, err := sqlite.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := read(t, src, fx)
	src.Close()
	if len(want.Orders) != 12 || len(want.Payments) != 11 || want.Idem == nil || want.Horizons[""] == 0 {
		t.Fatalf("the source is not what the test meant to build: %d orders, %d payments, idempotency %v, horizon %d",
			len(want.Orders), len(want.Payments), want.Idem, want.Horizons[""])
	}

	var progress bytes.Buffer
	rep, err := dbcopy.SQLiteToPostgres(ctx, path, dsn, dbcopy.Options{Progress: &progress, ProgressRows: 5})
	if err != nil {
		t.Fatalf("copy: %v\n%s", err, progress.String())
	}
	t.Logf("copy in %v:\n%s", rep.Elapsed, progress.String())
	if rep.LastEventID != want.Last {
		t.Fatalf("report: log head %d, want %d", rep.LastEventID, want.Last)
	}
	for _, line := range []string{"orders: 12 rows", "payments: 11 rows", "tokens: 4 rows", "orders: 5 rows"} {
		if !strings.Contains(progress.String(), line+"\n") {
			t.Errorf("progress lacks %q", line)
		}
	}

	pg, err := postgres.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	got := read(t, pg, fx)
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := range wv.NumField() {
		name := wv.Type().Field(i).Name
		if w, g := wv.Field(i).Interface(), gv.Field(i).Interface(); !reflect.DeepEqual(w, g) {
			t.Errorf("%s differs after the copy:\n sqlite   %+v\n postgres %+v", name, w, g)
		}
	}
	// The recovery record claims on the new database, once.
	r := fx.recovery[0]
	took, err := pg.ClaimRecovery(ctx, r.PID, r.TokenID, fx.now)
	if err != nil || took == nil || took.ID != r.ID || took.Base != r.Base || fmt.Sprint(took.Rooms) != fmt.Sprint(r.Rooms) || !took.Expires.Equal(r.Expires) {
		t.Errorf("recovery record %+v, %v; want %+v", took, err, r)
	}
	// A token issued before the move still signs in; the revoked one
	// still does not.
	toks := auth.NewTokens(pg, nil, nil)
	if p, err := toks.Authenticate(ctx, fx.tokens[1].Token, "127.0.0.1:1"); err != nil || p.Role != auth.RoleKasir {
		t.Errorf("kasir token after the copy: %+v, %v", p, err)
	}
	if _, err := toks.Authenticate(ctx, fx.tokens[3].Token, "127.0.0.1:1"); err == nil {
		t.Error("the revoked token signs in after the copy")
	}

	// New writes continue after the copied ids.
	svc := service.New(pg, nil)
	o, err := svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{TenantID: 1, CustomerName: "Budi", Items: []domain.Item{{Name: "Sate", Quantity: 1, UnitPrice: 20000}}})
	if err != nil {
		t.Fatalf("order after the copy: %v", err)
	}
	if o.ID != 13 || o.OrderNumber != "T1-007" {
		t.Errorf("new order id %d number %s; want 13 and T1-007", o.ID, o.OrderNumber)
	}
	p, err := svc.Pay(ctx, auth.Anonymous, service.NewPayment{OrderID: o.ID, AmountPaid: 20000, PaymentMethod: "qris", CounterID: 1})
	if err != nil || p.ID != 12 {
		t.Errorf("new payment: %+v, %v; want id 12", p, err)
	}
	evs, err := pg.ReadLog(ctx, want.Last, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != want.Last+1 || evs[1].ID != want.Last+2 {
		t.Errorf("events after the copy: %+v, %v; want ids %d and %d", evs, err, want.Last+1, want.Last+2)
	}
	it, err := toks.Create(ctx, auth.TokenSpec{Role: auth.RoleUser, UserID: 9})
	if err != nil || it.ID != 5 {
		t.Errorf("new token: id %d, %v; want 5", it.ID, err)
	}
	tn, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung T3", "T3")
	if err != nil || tn.ID != 3 {
		t.Errorf("new tenant: %+v, %v; want id 3", tn, err)
	}
	c, err := svc.CreateCounter(ctx, auth.Anonymous, "Kasir 2")
	if err != nil || c.ID != 2 {
		t.Errorf("new counter: %+v, %v; want id 2", c, err)
	}

	// The same copy again is refused, and writes nothing.
	before, err := pg.LastEventID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	progress.Reset()
	_, err = dbcopy.SQLiteToPostgres(ctx, path, dsn, dbcopy.Options{Progress: &progress})
	if !errors.Is(err, dbcopy.ErrTargetNotEmpty) {
		t.Fatalf("second copy: %v; want ErrTargetNotEmpty", err)
	}
	if !strings.Contains(err.Error(), "13 orders") || !strings.Contains(err.Error(), "5 tokens") {
		t.Errorf("refusal does not say what the target holds: %v", err)
	}
	after := read(t, pg, fx)
	if after.Last != before || len(after.Orders) != 13 || len(after.Tokens) != 5 {
		t.Errorf("the refused copy changed the target: head %d→%d, %d orders, %d tokens", before, after.Last, len(after.Orders), len(after.Tokens))
	}
}

// A target that only holds a token — a posd node started on it once — is
// refused too: its admin token's id would collide with a copied one.
func TestCopyRefusesATargetWithAToken(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "posd.db")
	buildSQLite(t, path)
	pg, err := postgres.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if _, err := auth.NewTokens(pg, nil, nil).Create(ctx, auth.TokenSpec{Role: auth.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	_, err = dbcopy.SQLiteToPostgres(ctx, path, dsn, dbcopy.Options{})
	if !errors.Is(err, dbcopy.ErrTargetNotEmpty) || !strings.Contains(err.Error(), "1 tokens") {
		t.Fatalf("copy into a target with a token: %v; want ErrTargetNotEmpty naming it", err)
	}
	if ts, err := pg.Tenants(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("the refused copy wrote tenants: %v, %v", ts, err)
	}
}

func TestCopyRefusesAMissingSource(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.db")
	_, err := dbcopy.SQLiteToPostgres(context.Background(), missing, "postgres://127.0.0.1:1/x", dbcopy.Options{})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("copy from a missing file: %v", err)
	}
	if _, serr := os.Stat(missing); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("the refused copy left a file behind: %v", serr)
	}
}
