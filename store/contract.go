// Package store is the storage contract: what posd keeps (tenants,
// counters, orders, payments, QR codes, tokens, idempotency records,
// Socket.IO recovery records) and its event log, written in the same
// transaction as each change. One implementation per database:
// store/sqlite (the embedded default, one node) and store/postgres
// (several nodes on one database). The types every implementation and
// every consumer share live here.
package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// Store is one database. It is safe for concurrent use.
type Store interface {
	// Write runs fn in one transaction: the change, its events
	// (Tx.AppendEvent) and its idempotency record commit together or not
	// at all. After the commit the events go to Options.Committed.
	Write(ctx context.Context, fn func(Tx) error) error

	Tenants(ctx context.Context) ([]domain.Tenant, error)
	Tenant(ctx context.Context, id int64) (*domain.Tenant, error)
	Counters(ctx context.Context) ([]domain.Counter, error)
	Order(ctx context.Context, id int64) (*domain.Order, error)
	// Orders lists orders with the log's head as of the same snapshot.
	Orders(ctx context.Context, f OrderFilter) ([]domain.Order, int64, error)
	Payments(ctx context.Context, f PaymentFilter) ([]domain.Payment, error)
	Idempotency(ctx context.Context, tokenID int64, key string) (*IdempotentResult, error)

	// ReadEvents returns up to limit events after id `after` addressed to
	// any of rooms or to every connection (rooms nil: every event), in id
	// order.
	ReadEvents(ctx context.Context, after int64, rooms []string, limit int) ([]domain.Event, error)
	// ReadLog returns up to limit events after id `after`, every room, in
	// id order, with their rooms: what the hub follows.
	ReadLog(ctx context.Context, after int64, limit int) ([]domain.Event, error)
	// Horizon is the highest event id retention has deleted.
	Horizon(ctx context.Context) (int64, error)
	// HorizonFor is Horizon among the events of rooms (and of every
	// connection).
	HorizonFor(ctx context.Context, rooms []string) (int64, error)
	LastEventID(ctx context.Context) (int64, error)
	Prune(ctx context.Context, cutoff time.Time, keepPerRoom int) (int, error)
	PruneIdempotency(ctx context.Context, cutoff time.Time) (int64, error)

	InsertToken(ctx context.Context, t *TokenRow) error
	TokenByHash(ctx context.Context, hash string) (*TokenRow, error)
	TokenByID(ctx context.Context, id int64) (*TokenRow, error)
	Tokens(ctx context.Context) ([]TokenRow, error)
	RevokeToken(ctx context.Context, id int64, at time.Time) (bool, error)
	CountTokens(ctx context.Context) (int, error)

	// Socket.IO connection-state recovery records are written through as
	// sockets connect, join, leave and drop, so that any node can recover
	// a socket whatever became of the node that held it. Each write names
	// the record's generation: a claim starts a new one, and a write of an
	// older generation (a late disconnect on the old node) changes nothing.
	//
	// PutRecovery writes r as generation r.Gen: it replaces a record of the
	// same pid only if that one's generation is lower.
	PutRecovery(ctx context.Context, r RecoverySession) error
	// UpdateRecovery sets the rooms and expiry of pid's record if it is
	// still at generation gen; it never creates one.
	UpdateRecovery(ctx context.Context, pid string, gen int64, rooms []string, expires time.Time) error
	// DeleteRecovery deletes pid's record if it is still at generation gen.
	DeleteRecovery(ctx context.Context, pid string, gen int64) error
	// ClaimRecovery takes pid's record if it belongs to tokenID and has not
	// expired at now, deleting it in the same statement: of any number of
	// claims, on any nodes, one gets it. nil when there is none to take.
	ClaimRecovery(ctx context.Context, pid string, tokenID int64, now time.Time) (*RecoverySession, error)
	// TouchRecovery sets the expiry of owner's records among pids, in one
	// statement: a node keeps its live sockets' records claimable.
	TouchRecovery(ctx context.Context, owner string, pids []string, expires time.Time) error
	// PruneRecovery deletes the records expired at now.
	PruneRecovery(ctx context.Context, now time.Time) (int64, error)
	// ClusterSecret is a random secret every node sharing the database
	// reads alike (made once, by a migration): nodes sign what they
	// forward to each other with it.
	ClusterSecret(ctx context.Context) (string, error)

	// Heartbeat records what a node holds now (upsert by NodeInfo.ID,
	// HeartbeatAt set to the store's clock), and forgets nodes silent for
	// NodeForgetAfter: a killed node leaves its row behind.
	Heartbeat(ctx context.Context, n NodeInfo) error
	// Nodes lists every node that has heartbeated and not been removed or
	// forgotten, live or not, by id.
	Nodes(ctx context.Context) ([]NodeInfo, error)
	// RemoveNode forgets a node at once (its clean shutdown).
	RemoveNode(ctx context.Context, id string) error
	// NodeAddr is a node's advertised address, and whether its last
	// heartbeat is younger than NodeLiveFor; "" and false for an unknown
	// node.
	NodeAddr(ctx context.Context, id string) (addr string, live bool, err error)
	// Broadcast hands cmd to Options.Command on every node sharing the
	// database, this one included, within moments and at most once; a
	// node that is not listening then misses it. A single-node backend
	// does nothing.
	Broadcast(ctx context.Context, cmd Command) error

	Webhooks
	// The rows the reports are built from (package report), read with
	// indexed SQL over [Start, End) of a report.Window, of one stall or
	// (TenantID 0) of all.
	//
	// MoneySums sums successful payments and refunds per stall, kind and
	// method by their own time; a refund's Prior is its amount when its
	// payment was taken before priorBefore. With cuts (ascending, inside
	// the window) it sums per segment too: a row's Segment is how many
	// cuts are at or before its payments' time.
	MoneySums(ctx context.Context, w report.Window, priorBefore time.Time, cuts ...time.Time) ([]report.MoneyRow, error)
	// Cancellations counts orders cancelled in the window and their
	// totals, per stall, by the time of the cancel.
	Cancellations(ctx context.Context, w report.Window) ([]report.CancelRow, error)
	// OrderTimes is when every order created in the window reached each
	// status, as its status history says.
	OrderTimes(ctx context.Context, w report.Window) ([]report.OrderTimes, error)
	// EventHours sums the event counts of the span's quarter hours per
	// local hour and event name: every stall's, or one stall's and the
	// alerts.
	EventHours(ctx context.Context, s report.LocalSpan) ([]report.EventHour, error)
	// Terms reads every share, fee and closed period.
	Terms(ctx context.Context) (report.Terms, error)
	// ClosedPeriod is a closed month with its snapshot, or nil.
	ClosedPeriod(ctx context.Context, month string) (*report.Closed, error)

	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}

// A node heartbeats every few seconds; one silent for NodeLiveFor is not
// counted (it died, or cannot reach the database), and one silent for
// NodeForgetAfter is forgotten.
const (
	NodeLiveFor     = 10 * time.Second
	NodeForgetAfter = time.Hour
)

// NodeInfo is one node's last heartbeat.
type NodeInfo struct {
	ID          string         `json:"id"`
	Addr        string         `json:"addr"`
	StartedAt   time.Time      `json:"started_at"`
	HeartbeatAt time.Time      `json:"heartbeat_at"`
	Connections int            `json:"connections"`
	Rooms       map[string]int `json:"rooms"`
	// Delivered is the last log id the node handed to its connections.
	Delivered int64 `json:"delivered"`
}

// Live reports whether the node heartbeated within NodeLiveFor of now.
func (n NodeInfo) Live(now time.Time) bool {
	return now.Sub(n.HeartbeatAt) < NodeLiveFor
}

// Command kinds: what every node is told to do to its own connections.
const (
	CmdCloseRoom  = "close_room"  // close Room's connections (4002)
	CmdCloseToken = "close_token" // close TokenID's connections (4001)
	CmdWebhooks   = "webhooks"    // endpoints were added or changed: claim now
)

// Command is an order to every node. From names the node that sent it,
// which has already carried it out on its own connections.
type Command struct {
	Kind    string `json:"kind"`
	From    string `json:"from"`
	Room    string `json:"room,omitempty"`
	TokenID int64  `json:"token_id,omitempty"`
}

// Tx is one write transaction. Reads through it that decide something
// (an order's status, a payment's refundable rest) lock what they read
// until the commit, so concurrent writers on any node see each other's
// changes.
type Tx interface {
	Now() time.Time
	InsertTenant(name, code string) (domain.Tenant, error)
	InsertCounter(name string) (domain.Counter, error)
	CounterExists(id int64) (bool, error)
	// NextOrderNumber takes the tenant's next order number: unique and
	// gap-free per tenant.
	NextOrderNumber(tenantID int64) (seq int64, number string, err error)
	InsertOrder(o *domain.Order, seq int64) error
	Order(id int64) (*domain.Order, error)
	UpdateOrder(o *domain.Order) error
	SuccessfulPayment(orderID int64) (*domain.Payment, error)
	Payment(id int64) (*domain.Payment, error)
	InsertPayment(p *domain.Payment) error
	AddRefunded(paymentID, amount int64) error
	QRByToken(token string) (*domain.QRCode, error)
	// QRByCode finds a QR code by its short pickup code; not found is a
	// CodeNotFound error, which is how a new code is known to be free.
	QRByCode(code string) (*domain.QRCode, error)
	RecordScan(q *domain.QRCode) error
	// AppendEvent adds ev to the log and returns it with its id. Ids are
	// contiguous and become visible in id order.
	AppendEvent(ev domain.Event) (domain.Event, error)
	PutIdempotency(tokenID int64, key string, r IdempotentResult) error
	IdempotencyUsed(tokenID int64, key string) (bool, error)
	// InsertWebhook stores w (its ID and Gen are set) in the transaction,
	// so that an endpoint and the idempotency record of the request that
	// added it commit together.
	InsertWebhook(w *Webhook) error
	// ChangeWebhook and DeleteWebhook are Webhooks' in the transaction:
	// an operator's change commits with the idempotency record of the
	// request that made it, so a retry is answered, not applied again.
	ChangeWebhook(id int64, c WebhookChange) (*Webhook, error)
	DeleteWebhook(id int64) (bool, error)

	// InsertOrder also records the order's first status at its creation;
	// RecordStatus records each later one, in the transaction that makes
	// the change: the status history the speed report reads, which
	// retention never prunes.
	RecordStatus(orderID, tenantID int64, status domain.Status, at time.Time) error
	// Terms reads every share, fee and closed period, and holds them until
	// the commit: a share change and a close of a period on any node
	// cannot interleave.
	Terms() (report.Terms, error)
	// SetShare and SetFee record a share or fee from a day on, replacing
	// one set from the same day.
	SetShare(s report.Share) error
	SetFee(f report.Fee) error
	// ClosePeriod stores a closed period; one already closed is a conflict.
	ClosePeriod(c report.Closed) error
}

// Options tune a store. A nil func is ignored.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	// Committed receives the events of every transaction this process
	// commits, in id order, before the next local commit's: the hub's
	// fast path from a commit to the sockets.
	Committed func([]domain.Event)
	// Changed is called, from any goroutine, when the log may have grown
	// by another process's commit (PostgreSQL's NOTIFY); it may be called
	// spuriously.
	Changed func()
	// Command receives what any node Broadcast, this one's included, from
	// the listener's goroutine: it must not block.
	Command func(Command)

	// SQLite only. Synchronous is SQLite's synchronous pragma: NORMAL (the
	// default) in WAL mode survives a killed process with nothing lost (a
	// commit is in the WAL before the API answers); FULL also survives
	// power loss, at the cost of an fsync per commit. WALLimit is how much
	// the WAL may hold before the checkpointer starts it over.
	Synchronous string
	WALLimit    int64
}

// OrderFilter selects orders for a list.
type OrderFilter struct {
	TenantID int64
	Statuses []domain.Status // empty: any
	Unpaid   bool            // only orders without a standing payment
	Limit    int
}

// PaymentFilter selects payments.
type PaymentFilter struct {
	CounterID int64     // 0: all counters
	SinceID   int64     // only rows with a greater id
	SinceTime time.Time // only rows created at or after it
	Limit     int
}

// RecoverySession is one Socket.IO socket's connection-state recovery
// record: who it was (pid, socket id, token), what it followed, the node
// that holds (or last held) it and its generation.
type RecoverySession struct {
	PID, ID string
	TokenID int64
	Rooms   []string
	Base    int64
	Expires time.Time
	Owner   string
	Gen     int64
}

// TokenRow is a stored token: only the hash of its secret is kept.
type TokenRow struct {
	ID        int64      `json:"id"`
	Hash      string     `json:"-"`
	Role      string     `json:"role"`
	TenantID  int64      `json:"tenant_id,omitempty"`
	CounterID int64      `json:"counter_id,omitempty"`
	UserID    int64      `json:"user_id,omitempty"`
	Display   bool       `json:"display,omitempty"`
	Label     string     `json:"name,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// IdempotentResult is a stored response to a request with an Idempotency-Key.
type IdempotentResult struct {
	RequestHash string
	Status      int
	Body        []byte
}

// ErrIdempotencyRace: another request with the same token and key
// committed first.
var ErrIdempotencyRace = errors.New("idempotency key used concurrently")
