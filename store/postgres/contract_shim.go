package postgres

// Temporary: the store contract (package store's Options, Store and Tx) is
// being committed on main; until it is merged here these local copies
// stand in for it, with the same shapes.

import (
	"context"
	"log/slog"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

type Options struct {
	Now         func() time.Time
	Logger      *slog.Logger
	Committed   func([]domain.Event)
	Changed     func()
	Synchronous string
	WALLimit    int64
}

type Tx interface {
	Now() time.Time
	InsertTenant(name, code string) (domain.Tenant, error)
	InsertCounter(name string) (domain.Counter, error)
	CounterExists(id int64) (bool, error)
	NextOrderNumber(tenantID int64) (seq int64, number string, err error)
	InsertOrder(o *domain.Order, seq int64) error
	Order(id int64) (*domain.Order, error)
	UpdateOrder(o *domain.Order) error
	SuccessfulPayment(orderID int64) (*domain.Payment, error)
	Payment(id int64) (*domain.Payment, error)
	InsertPayment(p *domain.Payment) error
	AddRefunded(paymentID, amount int64) error
	QRByToken(token string) (*domain.QRCode, error)
	RecordScan(q *domain.QRCode) error
	AppendEvent(ev domain.Event) (domain.Event, error)
	PutIdempotency(tokenID int64, key string, r store.IdempotentResult) error
	IdempotencyUsed(tokenID int64, key string) (bool, error)
}

type StoreAPI interface {
	Write(ctx context.Context, fn func(Tx) error) error
	Tenants(ctx context.Context) ([]domain.Tenant, error)
	Tenant(ctx context.Context, id int64) (*domain.Tenant, error)
	Counters(ctx context.Context) ([]domain.Counter, error)
	Order(ctx context.Context, id int64) (*domain.Order, error)
	Orders(ctx context.Context, f store.OrderFilter) ([]domain.Order, int64, error)
	Payments(ctx context.Context, f store.PaymentFilter) ([]domain.Payment, error)
	Idempotency(ctx context.Context, tokenID int64, key string) (*store.IdempotentResult, error)
	ReadEvents(ctx context.Context, after int64, rooms []string, limit int) ([]domain.Event, error)
	ReadLog(ctx context.Context, after int64, limit int) ([]domain.Event, error)
	Horizon(ctx context.Context) (int64, error)
	HorizonFor(ctx context.Context, rooms []string) (int64, error)
	LastEventID(ctx context.Context) (int64, error)
	Prune(ctx context.Context, cutoff time.Time, keepPerRoom int) (int, error)
	PruneIdempotency(ctx context.Context, cutoff time.Time) (int64, error)
	InsertToken(ctx context.Context, t *store.TokenRow) error
	TokenByHash(ctx context.Context, hash string) (*store.TokenRow, error)
	TokenByID(ctx context.Context, id int64) (*store.TokenRow, error)
	Tokens(ctx context.Context) ([]store.TokenRow, error)
	RevokeToken(ctx context.Context, id int64, at time.Time) (bool, error)
	CountTokens(ctx context.Context) (int, error)
	SaveRecovery(ctx context.Context, sessions []store.RecoverySession) error
	TakeRecovery(ctx context.Context, now time.Time) ([]store.RecoverySession, error)
	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}

var _ StoreAPI = (*Store)(nil)
