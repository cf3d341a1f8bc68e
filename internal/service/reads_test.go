package service

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

// readStore holds two stalls' orders (order 11 of tenant 1, order 22 of
// tenant 2) and records what the service asked of it, so a test can tell a
// refusal made before any lookup from one made after.
type readStore struct {
	ReportReader      // reports are tested on real stores (reports_test.go)
	without22    bool // a database in which order 22 was never written
	asked        []string
	orderFilter  store.OrderFilter
	payFilter    store.PaymentFilter
	rooms        []string
	limit        int
}

func (s *readStore) Write(context.Context, func(store.Tx) error) error {
	s.asked = append(s.asked, "write")
	return errors.New("reads only")
}

func (s *readStore) Tenants(context.Context) ([]domain.Tenant, error) {
	s.asked = append(s.asked, "tenants")
	return []domain.Tenant{{ID: 1}, {ID: 2}}, nil
}

func (s *readStore) Counters(context.Context) ([]domain.Counter, error) {
	s.asked = append(s.asked, "counters")
	return []domain.Counter{{ID: 1}, {ID: 2}}, nil
}

func secretOrder(id, tenant int64) *domain.Order {
	return &domain.Order{ID: id, TenantID: tenant, QR: &domain.QRCode{Token: "secret"}, Payments: []domain.Payment{{ID: 1}}}
}

func (s *readStore) Order(_ context.Context, id int64) (*domain.Order, error) {
	s.asked = append(s.asked, "order")
	switch id {
	case 11:
		return secretOrder(11, 1), nil
	case 22:
		if !s.without22 {
			return secretOrder(22, 2), nil
		}
	}
	return nil, domain.Errorf(domain.CodeNotFound, "order %d not found", id)
}

func (s *readStore) Orders(_ context.Context, f store.OrderFilter) ([]domain.Order, int64, error) {
	s.asked = append(s.asked, "orders")
	s.orderFilter = f
	var out []domain.Order
	for _, o := range []*domain.Order{secretOrder(11, 1), secretOrder(22, 2)} {
		if f.TenantID == 0 || f.TenantID == o.TenantID {
			out = append(out, *o)
		}
	}
	return out, 99, nil
}

func (s *readStore) Payments(_ context.Context, f store.PaymentFilter) ([]domain.Payment, error) {
	s.asked = append(s.asked, "payments")
	s.payFilter = f
	return []domain.Payment{{ID: 1, CounterID: f.CounterID}}, nil
}

func (s *readStore) ReadEvents(_ context.Context, _ int64, rooms []string, limit int) ([]domain.Event, error) {
	s.asked = append(s.asked, "events")
	s.rooms, s.limit = rooms, limit
	return nil, nil
}

func (s *readStore) HorizonFor(context.Context, []string) (int64, error) { return 0, nil }

var (
	admin       = auth.Principal{Role: auth.RoleAdmin}
	tenant1     = auth.Principal{Role: auth.RoleTenant, TenantID: 1}
	kasir1      = auth.Principal{Role: auth.RoleKasir, CounterID: 1}
	board       = auth.Principal{Role: auth.RoleDisplay, Display: true}
	kitchen1    = auth.Principal{Role: auth.RoleDisplay, TenantID: 1}
	blankScreen = auth.Principal{Role: auth.RoleDisplay}
	user7       = auth.Principal{Role: auth.RoleUser, UserID: 7}
)

// outcome is what a read answered: "ok", "public" (ok, the view without
// secrets) or an error code.
func outcome(err error, public bool) string {
	switch {
	case err != nil:
		return string(domain.ErrorCode(err))
	case public:
		return "public"
	}
	return "ok"
}

// One order by id, for every role, of its own stall and of another: a
// token that may read no order is refused before the lookup; another
// stall's order is answered exactly as a missing one; display tokens get
// the public view.
func TestOrderScope(t *testing.T) {
	cases := []struct {
		name     string
		p        auth.Principal
		id       int64
		want     string
		lookedUp bool
	}{
		{"admin/own", admin, 11, "ok", true},
		{"admin/other", admin, 22, "ok", true},
		{"tenant/own", tenant1, 11, "ok", true},
		{"tenant/other", tenant1, 22, "not_found", true},
		{"tenant/missing", tenant1, 33, "not_found", true},
		{"kasir/any", kasir1, 22, "ok", true},
		{"display board/any", board, 22, "public", true},
		{"display kitchen/own", kitchen1, 11, "public", true},
		{"display kitchen/other", kitchen1, 22, "not_found", true},
		{"display blank", blankScreen, 11, "forbidden", false},
		{"user", user7, 11, "forbidden", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &readStore{}
			v, err := New(st, nil).Order(context.Background(), c.p, c.id)
			if got := outcome(err, v.Public != nil); got != c.want {
				t.Fatalf("Order(%d) as %+v = %s (%v); want %s", c.id, c.p, got, err, c.want)
			}
			if lookedUp := len(st.asked) > 0; lookedUp != c.lookedUp {
				t.Errorf("store asked %v; want a lookup: %v", st.asked, c.lookedUp)
			}
			if err == nil && (v.Whole == nil) == (v.Public == nil) {
				t.Errorf("view %+v: want exactly one of Whole and Public", v)
			}
			if c.want == "public" && v.Value() != any(v.Public) {
				t.Errorf("Value() = %T; want the public view", v.Value())
			}
		})
	}
	// Another stall's order and a missing one must read the same, word for word.
	_, other := New(&readStore{}, nil).Order(context.Background(), tenant1, 22)
	_, missing := New(&readStore{without22: true}, nil).Order(context.Background(), tenant1, 22)
	if other == nil || missing == nil || other.Error() != missing.Error() {
		t.Errorf("other stall's order: %q; missing: %q", other, missing)
	}
}

// Listing orders, for every role, of every stall, its own and another: the
// tenant the store is asked for, and whether secrets come back.
func TestOrdersScope(t *testing.T) {
	cases := []struct {
		name       string
		p          auth.Principal
		tenant     int64
		want       string
		askedFor   int64 // the tenant filter the store saw
		wantOrders int
	}{
		{"admin/all", admin, 0, "ok", 0, 2},
		{"admin/other", admin, 2, "ok", 2, 1},
		{"tenant/all is own", tenant1, 0, "ok", 1, 1},
		{"tenant/own", tenant1, 1, "ok", 1, 1},
		{"tenant/other", tenant1, 2, "forbidden", 0, 0},
		{"tenant/missing", tenant1, 9, "forbidden", 0, 0},
		{"kasir/all", kasir1, 0, "ok", 0, 2},
		{"kasir/other", kasir1, 2, "ok", 2, 1},
		{"display board/all", board, 0, "public", 0, 2},
		{"display kitchen/all is own", kitchen1, 0, "public", 1, 1},
		{"display kitchen/other", kitchen1, 2, "forbidden", 0, 0},
		{"display blank/all", blankScreen, 0, "forbidden", 0, 0},
		{"user/all", user7, 0, "forbidden", 0, 0},
		{"user/own stall?", user7, 1, "forbidden", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &readStore{}
			l, err := New(st, nil).Orders(context.Background(), c.p, store.OrderFilter{TenantID: c.tenant, Limit: 5000})
			if got := outcome(err, l.Public != nil); got != c.want {
				t.Fatalf("Orders(tenant %d) as %+v = %s (%v); want %s", c.tenant, c.p, got, err, c.want)
			}
			if err != nil {
				if len(st.asked) > 0 {
					t.Errorf("refused after asking the store %v", st.asked)
				}
				return
			}
			if st.orderFilter.TenantID != c.askedFor || st.orderFilter.Limit != MaxPage {
				t.Errorf("store asked for %+v; want tenant %d, limit %d", st.orderFilter, c.askedFor, MaxPage)
			}
			if n := max(len(l.Whole), len(l.Public)); n != c.wantOrders || l.LastEventID != 99 {
				t.Errorf("%d orders at head %d; want %d at 99", n, l.LastEventID, c.wantOrders)
			}
		})
	}
}

// Listing payments: an admin reads any counter's or all; a kasir its own,
// also when it names none; nobody else any.
func TestPaymentsScope(t *testing.T) {
	cases := []struct {
		name     string
		p        auth.Principal
		counter  int64
		want     string
		askedFor int64
	}{
		{"admin/all", admin, 0, "ok", 0},
		{"admin/other", admin, 2, "ok", 2},
		{"kasir/none named is own", kasir1, 0, "ok", 1},
		{"kasir/own", kasir1, 1, "ok", 1},
		{"kasir/other", kasir1, 2, "forbidden", 0},
		{"tenant", tenant1, 0, "forbidden", 0},
		{"tenant/a counter", tenant1, 1, "forbidden", 0},
		{"display board", board, 0, "forbidden", 0},
		{"user", user7, 0, "forbidden", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &readStore{}
			_, err := New(st, nil).Payments(context.Background(), c.p, store.PaymentFilter{CounterID: c.counter, Limit: 5000})
			if got := outcome(err, false); got != c.want {
				t.Fatalf("Payments(counter %d) as %+v = %s (%v); want %s", c.counter, c.p, got, err, c.want)
			}
			if err != nil {
				if len(st.asked) > 0 {
					t.Errorf("refused after asking the store %v", st.asked)
				}
				return
			}
			if st.payFilter.CounterID != c.askedFor || st.payFilter.Limit != MaxPage {
				t.Errorf("store asked for %+v; want counter %d, limit %d", st.payFilter, c.askedFor, MaxPage)
			}
		})
	}
}

// Reading the event log: one room the principal could join, or every room
// for an admin alone.
func TestEventsScope(t *testing.T) {
	cases := []struct {
		name string
		p    auth.Principal
		room string
		want string
	}{
		{"admin/all", admin, "", "ok"},
		{"admin/other", admin, "tenant-2", "ok"},
		{"tenant/all", tenant1, "", "forbidden"},
		{"tenant/own", tenant1, "tenant-1", "ok"},
		{"tenant/other", tenant1, "tenant-2", "forbidden"},
		{"tenant/malformed", tenant1, "tenant-01", "invalid"},
		{"kasir/own", kasir1, "kasir-1", "ok"},
		{"kasir/display", kasir1, "display", "ok"},
		{"kasir/other", kasir1, "kasir-2", "forbidden"},
		{"display board/display", board, "display", "ok"},
		{"display board/a stall", board, "tenant-1", "forbidden"},
		{"display kitchen/own", kitchen1, "tenant-1", "ok"},
		{"user/own", user7, "user-7", "ok"},
		{"user/other", user7, "user-8", "forbidden"},
		{"user/all", user7, "", "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &readStore{}
			page, err := New(st, nil).Events(context.Background(), c.p, EventQuery{Room: c.room})
			if got := outcome(err, false); got != c.want {
				t.Fatalf("Events(room %q) as %+v = %s (%v); want %s", c.room, c.p, got, err, c.want)
			}
			if err != nil {
				if len(st.asked) > 0 {
					t.Errorf("refused after asking the store %v", st.asked)
				}
				return
			}
			wantRooms := []string{c.room}
			if c.room == "" {
				wantRooms = nil
			}
			if !slices.Equal(st.rooms, wantRooms) || st.limit != MaxPage || page.Events == nil {
				t.Errorf("store asked for rooms %q, limit %d, events %v; want %q, %d, non-nil", st.rooms, st.limit, page.Events, wantRooms, MaxPage)
			}
		})
	}
}

// Tenants and counters are shown on every screen: every role lists them.
func TestTenantsAndCountersForEveryRole(t *testing.T) {
	for _, p := range []auth.Principal{admin, tenant1, kasir1, board, kitchen1, blankScreen, user7} {
		s := New(&readStore{}, nil)
		if ts, err := s.Tenants(context.Background(), p); err != nil || len(ts) != 2 {
			t.Errorf("Tenants as %+v = %v, %v; want both", p, ts, err)
		}
		if cs, err := s.Counters(context.Background(), p); err != nil || len(cs) != 2 {
			t.Errorf("Counters as %+v = %v, %v; want both", p, cs, err)
		}
	}
}

// A token that may change or scan no order at all is refused by the
// service itself, before any lookup, whoever calls it: the answer says
// nothing about the id or the code.
func TestOrderWritesRefusedBeforeLookup(t *testing.T) {
	ctx := context.Background()
	writes := map[string]func(*Service, auth.Principal) error{
		"set status": func(s *Service, p auth.Principal) error {
			_, err := s.SetStatus(ctx, p, 11, domain.StatusPreparing)
			return err
		},
		"cancel": func(s *Service, p auth.Principal) error {
			_, err := s.Cancel(ctx, p, 11, "left")
			return err
		},
		"scan token": func(s *Service, p auth.Principal) error {
			_, err := s.ScanQR(ctx, p, "qrtokenqrtokenqrtoken1")
			return err
		},
		"scan code": func(s *Service, p auth.Principal) error {
			_, err := s.ScanCode(ctx, p, "ABC234")
			return err
		},
	}
	refused := map[string][]auth.Principal{
		"set status": {kasir1, board, kitchen1, user7},
		"cancel":     {kasir1, board, kitchen1, user7},
		"scan token": {board, kitchen1, user7},
		"scan code":  {board, kitchen1, user7},
	}
	for name, do := range writes {
		for _, p := range refused[name] {
			st := &readStore{}
			if err := do(New(st, nil), p); domain.ErrorCode(err) != domain.CodeForbidden || len(st.asked) > 0 {
				t.Errorf("%s as %+v: %v after asking the store %v; want forbidden before any lookup", name, p, err, st.asked)
			}
		}
		// Those that may act on some orders go on to the store.
		st := &readStore{}
		if err := do(New(st, nil), tenant1); domain.ErrorCode(err) == domain.CodeForbidden || !slices.Equal(st.asked, []string{"write"}) {
			t.Errorf("%s as tenant: %v after asking the store %v; want the write tried", name, err, st.asked)
		}
	}
}
