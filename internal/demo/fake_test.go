package demo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
)

// fakeAPI is an in-memory posd that applies the domain's rules and records
// every call, so tests can check what the demo asked for.
type fakeAPI struct {
	mu       sync.Mutex
	tenants  []client.Tenant
	counters []client.Counter
	orders   map[int64]*domain.Order
	payments map[int64]*domain.Payment
	nextID   int64
	seq      map[int64]int64

	calls   []string // method and arguments, in order, without idempotency keys
	refused []string // every refusal, with the reason
	history map[int64][]domain.Status

	// meddle, when set, runs before each order call: a "human" at a console
	// changing the order first. It returns true when it did something.
	meddle func(f *fakeAPI, o *domain.Order) bool
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{orders: map[int64]*domain.Order{}, payments: map[int64]*domain.Payment{}, seq: map[int64]int64{}, history: map[int64][]domain.Status{}}
}

var _ API = (*fakeAPI)(nil)

func (f *fakeAPI) id() int64 { f.nextID++; return f.nextID }

func (f *fakeAPI) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeAPI) refuse(err error) error {
	code := domain.ErrorCode(err)
	status := map[domain.Code]int{
		domain.CodeInvalid: 400, domain.CodeNotFound: 404, domain.CodeConflict: 409, domain.CodeUnprocessable: 422,
	}[code]
	if status == 0 {
		status = 500
	}
	f.refused = append(f.refused, fmt.Sprintf("%s: %s", f.calls[len(f.calls)-1], err))
	return &client.APIError{Status: status, Code: string(code), Message: domain.ErrorMessage(err)}
}

func (f *fakeAPI) Tenants(context.Context) ([]client.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Tenants")
	return slices.Clone(f.tenants), nil
}

func (f *fakeAPI) CreateTenant(_ context.Context, name, code string, _ ...client.Option) (client.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateTenant %s %s", name, code)
	if err := domain.CheckTenantCode(code); err != nil {
		return client.Tenant{}, f.refuse(err)
	}
	t := client.Tenant{ID: f.id(), Name: name, Code: code}
	f.tenants = append(f.tenants, t)
	return t, nil
}

func (f *fakeAPI) Counters(context.Context) ([]client.Counter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Counters")
	return slices.Clone(f.counters), nil
}

func (f *fakeAPI) CreateCounter(_ context.Context, name string, _ ...client.Option) (client.Counter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateCounter %s", name)
	c := client.Counter{ID: f.id(), Name: name}
	f.counters = append(f.counters, c)
	return c, nil
}

func (f *fakeAPI) Orders(_ context.Context, flt client.OrderFilter) (client.OrderList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Orders %+v", flt)
	var out client.OrderList
	for _, o := range f.orders {
		if flt.Open && !o.Status.Open() {
			continue
		}
		out.Orders = append(out.Orders, *o)
	}
	slices.SortFunc(out.Orders, func(a, b domain.Order) int { return int(a.ID - b.ID) })
	return out, nil
}

func (f *fakeAPI) Order(_ context.Context, id int64) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Order %d", id)
	o, ok := f.orders[id]
	if !ok {
		return domain.Order{}, f.refuse(domain.Errorf(domain.CodeNotFound, "no order %d", id))
	}
	out := *o
	out.Payments = nil
	for _, p := range f.payments {
		if p.OrderID == id {
			out.Payments = append(out.Payments, *p)
		}
	}
	slices.SortFunc(out.Payments, func(a, b domain.Payment) int { return int(a.ID - b.ID) })
	return out, nil
}

func (f *fakeAPI) CreateOrder(_ context.Context, req client.OrderRequest, _ ...client.Option) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateOrder %+v", req)
	var tenant *client.Tenant
	for i := range f.tenants {
		if f.tenants[i].ID == req.TenantID {
			tenant = &f.tenants[i]
		}
	}
	if tenant == nil {
		return domain.Order{}, f.refuse(domain.Errorf(domain.CodeNotFound, "no tenant %d", req.TenantID))
	}
	if err := domain.CheckText("customer_name", req.CustomerName, domain.MaxCustomerLen, true); err != nil {
		return domain.Order{}, f.refuse(err)
	}
	items := make([]domain.Item, len(req.Items))
	for i, it := range req.Items {
		items[i] = domain.Item{ID: f.id(), Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice, Notes: it.Notes}
	}
	total, err := domain.PriceItems(items)
	if err != nil {
		return domain.Order{}, f.refuse(err)
	}
	f.seq[tenant.ID]++
	id := f.id()
	o := &domain.Order{
		ID: id, TenantID: tenant.ID, OrderNumber: domain.OrderNumber(tenant.Code, f.seq[tenant.ID]),
		CustomerName: req.CustomerName, Status: domain.StatusPending, TotalAmount: total, Items: items,
		QR: &domain.QRCode{ID: f.id(), OrderID: id, Token: fmt.Sprintf("qr-%d", id), Code: fmt.Sprintf("PK%04d", id%10000), Status: domain.QRActive},
	}
	f.orders[id] = o
	f.history[id] = []domain.Status{domain.StatusPending}
	return *o, nil
}

func (f *fakeAPI) lookup(id int64) (*domain.Order, error) {
	o, ok := f.orders[id]
	if !ok {
		return nil, domain.Errorf(domain.CodeNotFound, "no order %d", id)
	}
	if f.meddle != nil {
		f.meddle(f, o)
	}
	return o, nil
}

func (f *fakeAPI) setStatus(o *domain.Order, to domain.Status) error {
	if err := domain.CheckTransition(o.Status, to); err != nil {
		return err
	}
	o.Status = to
	f.history[o.ID] = append(f.history[o.ID], to)
	return nil
}

func (f *fakeAPI) SetStatus(_ context.Context, id int64, status domain.Status, _ ...client.Option) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("SetStatus %d %s", id, status)
	o, err := f.lookup(id)
	if err == nil {
		err = f.setStatus(o, status)
	}
	if err != nil {
		return domain.Order{}, f.refuse(err)
	}
	return *o, nil
}

func (f *fakeAPI) cancel(o *domain.Order, reason string) error {
	if err := domain.CheckCancel(o.Status); err != nil {
		return err
	}
	if err := domain.CheckText("reason", reason, domain.MaxReasonLen, true); err != nil {
		return err
	}
	for _, p := range f.payments {
		if p.OrderID == o.ID && p.Kind == domain.KindPayment && p.Remaining() > 0 {
			left := p.Remaining()
			p.Refunded += left
			o.Refunded += left
			f.payments[f.id()] = &domain.Payment{Kind: domain.KindRefund, OrderID: o.ID, Amount: left, OriginalPaymentID: p.ID}
		}
	}
	o.Status = domain.StatusCancelled
	o.CancelReason = reason
	f.history[o.ID] = append(f.history[o.ID], domain.StatusCancelled)
	return nil
}

func (f *fakeAPI) Cancel(_ context.Context, id int64, reason string, _ ...client.Option) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Cancel %d %s", id, reason)
	o, err := f.lookup(id)
	if err == nil {
		err = f.cancel(o, reason)
	}
	if err != nil {
		return domain.Order{}, f.refuse(err)
	}
	return *o, nil
}

func (f *fakeAPI) pay(o *domain.Order, amount int64, method domain.Method, counter int64) (*domain.Payment, error) {
	if _, err := domain.ParseMethod(string(method)); err != nil {
		return nil, err
	}
	if !o.Status.Open() && o.Status != domain.StatusCompleted {
		return nil, domain.Errorf(domain.CodeConflict, "order is %s", o.Status)
	}
	if o.PaidAmount > 0 {
		return nil, domain.Errorf(domain.CodeConflict, "order already paid")
	}
	if !slices.ContainsFunc(f.counters, func(c client.Counter) bool { return c.ID == counter }) {
		return nil, domain.Errorf(domain.CodeNotFound, "no counter %d", counter)
	}
	charged, change, err := domain.SettlePayment(method, o.TotalAmount, amount)
	if err != nil {
		return nil, err
	}
	p := &domain.Payment{
		ID: f.id(), Kind: domain.KindPayment, OrderID: o.ID, TenantID: o.TenantID, CounterID: counter,
		Method: method, Amount: charged, AmountPaid: amount, Change: change, Status: "success",
		Reference: domain.NewReference(time.Unix(0, 0)),
	}
	f.payments[p.ID] = p
	o.PaidAmount = charged
	return p, nil
}

func (f *fakeAPI) Pay(_ context.Context, req client.PayRequest, _ ...client.Option) (domain.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Pay %+v", req)
	o, err := f.lookup(req.OrderID)
	var p *domain.Payment
	if err == nil {
		p, err = f.pay(o, req.AmountPaid, req.PaymentMethod, req.CounterID)
	}
	if err != nil {
		return domain.Payment{}, f.refuse(err)
	}
	return *p, nil
}

func (f *fakeAPI) Refund(_ context.Context, paymentID int64, reason string, amount int64, _ ...client.Option) (domain.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Refund %d %s %d", paymentID, reason, amount)
	p, ok := f.payments[paymentID]
	if !ok {
		return domain.Payment{}, f.refuse(domain.Errorf(domain.CodeNotFound, "no payment %d", paymentID))
	}
	n, err := domain.CheckRefund(p, amount)
	if err != nil {
		return domain.Payment{}, f.refuse(err)
	}
	p.Refunded += n
	f.orders[p.OrderID].Refunded += n
	r := &domain.Payment{ID: f.id(), Kind: domain.KindRefund, OrderID: p.OrderID, Amount: n, OriginalPaymentID: p.ID, Reason: reason, Status: "success"}
	f.payments[r.ID] = r
	return *r, nil
}

func (f *fakeAPI) ScanQR(_ context.Context, token string, _ ...client.Option) (domain.QRCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ScanQR %s", token)
	for _, o := range f.orders {
		if o.QR != nil && o.QR.Token == token {
			if err := domain.CheckScan(o.Status); err != nil {
				return domain.QRCode{}, f.refuse(err)
			}
			o.QR.ScannedCount++
			o.QR.Status = domain.QRScanned
			return *o.QR, nil
		}
	}
	return domain.QRCode{}, f.refuse(domain.Errorf(domain.CodeNotFound, "no QR code %q", token))
}

func (f *fakeAPI) ScanCode(_ context.Context, code string, _ ...client.Option) (domain.QRCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ScanCode %s", code)
	for _, o := range f.orders {
		if o.QR != nil && o.QR.Code == code {
			if err := domain.CheckScan(o.Status); err != nil {
				return domain.QRCode{}, f.refuse(err)
			}
			o.QR.ScannedCount++
			o.QR.Status = domain.QRScanned
			return *o.QR, nil
		}
	}
	return domain.QRCode{}, f.refuse(domain.Errorf(domain.CodeNotFound, "no pickup code %q", code))
}

func (f *fakeAPI) Alert(_ context.Context, severity, message string, _ ...client.Option) (client.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Alert %s %s", severity, message)
	if !slices.Contains(domain.Severities, severity) {
		return client.Event{}, f.refuse(domain.Errorf(domain.CodeInvalid, "severity %q", severity))
	}
	return client.Event{Name: domain.EventAlert}, nil
}

// refusals lists every refusal the fake answered with.
func (f *fakeAPI) refusals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.refused)
}

func clientOrder(tenantID int64) client.OrderRequest {
	return client.OrderRequest{TenantID: tenantID, CustomerName: "Pak Slamet",
		Items: []client.ItemRequest{{Name: "Mie Ayam", Quantity: 1, UnitPrice: 18000}}}
}
