package service

import (
	"context"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

// Reader is the store's read path: reads outside a write transaction.
type Reader interface {
	Tenants(ctx context.Context) ([]domain.Tenant, error)
	Counters(ctx context.Context) ([]domain.Counter, error)
	Order(ctx context.Context, id int64) (*domain.Order, error)
	Orders(ctx context.Context, f store.OrderFilter) ([]domain.Order, int64, error)
	Payments(ctx context.Context, f store.PaymentFilter) ([]domain.Payment, error)
	ReadEvents(ctx context.Context, after int64, rooms []string, limit int) ([]domain.Event, error)
	HorizonFor(ctx context.Context, rooms []string) (int64, error)
}

// Store is what a Service needs of the database: its writes and its reads.
type Store interface {
	Writer
	Reader
	ReportReader
}

// MaxPage is the most rows one read returns, whatever the caller asks: a
// page of a thousand orders is already a few hundred KiB of JSON.
const MaxPage = 1000

// Tenants lists every stall. Every role may: names and codes are shown on
// every screen.
func (s *Service) Tenants(ctx context.Context, _ auth.Principal) ([]domain.Tenant, error) {
	return s.r.Tenants(ctx)
}

// Counters lists every kasir counter. Every role may, as for Tenants.
func (s *Service) Counters(ctx context.Context, _ auth.Principal) ([]domain.Counter, error) {
	return s.r.Counters(ctx)
}

// OrderView is one order as its reader may see it: exactly one field is
// set. Staff tokens (admin, tenant, kasir) read it Whole; display and user
// tokens read domain.PublicOrder, since their secret sits in a TV's URL or
// on a shared screen and must not lead to QR tokens or payment records.
type OrderView struct {
	Whole  *domain.Order
	Public *domain.PublicOrder
}

// Value is the view to encode: the one field that is set.
func (v OrderView) Value() any {
	if v.Public != nil {
		return v.Public
	}
	return v.Whole
}

// OrderList is a page of orders as its reader may see them (see
// OrderView): Public is non-nil, even empty, for the public view, and
// Whole is used otherwise.
type OrderList struct {
	Whole  []domain.Order
	Public []domain.PublicOrder
	// LastEventID is the log's head as of the same snapshot: a client that
	// follows the log from there misses nothing and sees nothing twice.
	LastEventID int64
}

// Value is the list to encode.
func (l OrderList) Value() any {
	if l.Public != nil {
		return l.Public
	}
	return l.Whole
}

// viewOf is o as p may read it.
func viewOf(p auth.Principal, o *domain.Order) OrderView {
	if p.SeesOrderSecrets() {
		return OrderView{Whole: o}
	}
	pub := o.Public()
	return OrderView{Public: &pub}
}

// MayReadOrders refuses, with 403, a principal that may read no order at
// all (a user token, a display token with neither the display room nor a
// stall). A caller that parses an id may ask it first, so a malformed id
// tells such a token no more than a well-formed one.
func MayReadOrders(p auth.Principal) error {
	if !p.CanReadAnyOrder() {
		return forbidden("this token may not read orders")
	}
	return nil
}

// Order reads one order. A principal that may read no order is refused
// before the lookup; an order of a stall outside p's scope is answered as
// missing, so a token cannot probe other stalls' order ids.
func (s *Service) Order(ctx context.Context, p auth.Principal, id int64) (OrderView, error) {
	if err := MayReadOrders(p); err != nil {
		return OrderView{}, err
	}
	o, err := s.r.Order(ctx, id)
	if err != nil {
		return OrderView{}, err
	}
	if !p.CanReadTenant(o.TenantID) {
		return OrderView{}, domain.Errorf(domain.CodeNotFound, "order %d not found", id)
	}
	return viewOf(p, o), nil
}

// Orders lists orders. With no tenant in f, a principal that reads every
// stall lists them all and a stall's token lists its own; naming a tenant
// outside p's scope is refused whether or not it exists. Limit is capped
// at MaxPage.
func (s *Service) Orders(ctx context.Context, p auth.Principal, f store.OrderFilter) (OrderList, error) {
	if f.TenantID == 0 {
		if !p.CanReadAllTenants() {
			if p.TenantID == 0 {
				return OrderList{}, forbidden("this token may not list orders")
			}
			f.TenantID = p.TenantID
		}
	} else if !p.CanReadTenant(f.TenantID) {
		return OrderList{}, forbidden("this token may not read tenant %d's orders", f.TenantID)
	}
	f.Limit = min(f.Limit, MaxPage)
	orders, head, err := s.r.Orders(ctx, f)
	if err != nil {
		return OrderList{}, err
	}
	if p.SeesOrderSecrets() {
		return OrderList{Whole: orders, LastEventID: head}, nil
	}
	pub := make([]domain.PublicOrder, len(orders))
	for i := range orders {
		pub[i] = orders[i].Public()
	}
	return OrderList{Public: pub, LastEventID: head}, nil
}

// Payments lists payments and refunds. Only an admin reads every
// counter's; a kasir reads its own counter's, which is also what it gets
// when it names none. Limit is capped at MaxPage.
func (s *Service) Payments(ctx context.Context, p auth.Principal, f store.PaymentFilter) ([]domain.Payment, error) {
	if p.Role == auth.RoleKasir && f.CounterID == 0 {
		f.CounterID = p.CounterID
	}
	if !p.CanReadPayments(f.CounterID) {
		return nil, forbidden("this token may not list payments of counter %d", f.CounterID)
	}
	f.Limit = min(f.Limit, MaxPage)
	return s.r.Payments(ctx, f)
}

// EventQuery asks for a page of the event log.
type EventQuery struct {
	Since int64  // events after this id
	Room  string // one room; "" is every room, for admins only
	Limit int    // 0 or more than MaxPage: MaxPage
}

// EventPage is a page of the event log.
type EventPage struct {
	Events    []domain.Event // never nil
	NextSince int64          // the Since of the next page
	// Gap says retention deleted events after Since: the page does not
	// follow on from it, and OldestID is the first id still kept.
	Gap      bool
	OldestID int64
}

// Events reads the log of one room p may join (the rooms it could follow
// live), or, for an admin, of every room. A malformed room is invalid and
// a foreign one forbidden, as when joining it.
func (s *Service) Events(ctx context.Context, p auth.Principal, q EventQuery) (EventPage, error) {
	var rooms []string
	if q.Room != "" {
		canon, err := auth.CheckJoin(p, q.Room)
		if err != nil {
			return EventPage{}, err
		}
		rooms = []string{canon}
	} else if !p.IsAdmin() {
		return EventPage{}, forbidden("history across rooms is for admins; pass room=")
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	evs, err := s.r.ReadEvents(ctx, q.Since, rooms, limit)
	if err != nil {
		return EventPage{}, err
	}
	// The horizon is read after the page: if retention deleted anything
	// after Since before the page was read, it shows here.
	horizon, err := s.r.HorizonFor(ctx, rooms)
	if err != nil {
		return EventPage{}, err
	}
	page := EventPage{Events: evs, NextSince: q.Since}
	if len(evs) > 0 {
		page.NextSince = evs[len(evs)-1].ID
	}
	if page.Events == nil {
		page.Events = []domain.Event{}
	}
	if q.Since < horizon {
		page.Gap, page.OldestID = true, horizon+1
	}
	return page, nil
}
