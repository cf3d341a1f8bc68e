package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/posd/posd/internal/domain"
)

// Tenant is a stall of the food court.
type Tenant struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Code      string    `json:"code"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Counter is a kasir counter.
type Counter struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// CreateTenant adds a stall.
func (c *Client) CreateTenant(ctx context.Context, name, code string, opts ...Option) (Tenant, error) {
	var t Tenant
	err := c.do(ctx, http.MethodPost, "/api/tenants", nil, map[string]string{"name": name, "code": code}, &t, opts)
	return t, err
}

// Tenants lists the stalls.
func (c *Client) Tenants(ctx context.Context) ([]Tenant, error) {
	var out struct {
		Tenants []Tenant `json:"tenants"`
	}
	err := c.do(ctx, http.MethodGet, "/api/tenants", nil, nil, &out, nil)
	return out.Tenants, err
}

// CreateCounter adds a kasir counter.
func (c *Client) CreateCounter(ctx context.Context, name string, opts ...Option) (Counter, error) {
	var k Counter
	err := c.do(ctx, http.MethodPost, "/api/counters", nil, map[string]string{"name": name}, &k, opts)
	return k, err
}

// Counters lists the kasir counters.
func (c *Client) Counters(ctx context.Context) ([]Counter, error) {
	var out struct {
		Counters []Counter `json:"counters"`
	}
	err := c.do(ctx, http.MethodGet, "/api/counters", nil, nil, &out, nil)
	return out.Counters, err
}

// ItemRequest is one line of a new order.
type ItemRequest struct {
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	Notes     string `json:"notes,omitempty"`
}

// OrderRequest is the body of POST /api/orders.
type OrderRequest struct {
	TenantID     int64         `json:"tenant_id"`
	CustomerName string        `json:"customer_name"`
	Items        []ItemRequest `json:"items"`
}

// CreateOrder places an order; the server computes its total and QR code.
func (c *Client) CreateOrder(ctx context.Context, req OrderRequest, opts ...Option) (domain.Order, error) {
	var o domain.Order
	err := c.do(ctx, http.MethodPost, "/api/orders", nil, req, &o, opts)
	return o, err
}

// OrderFilter narrows GET /api/orders. Zero fields are not sent.
type OrderFilter struct {
	TenantID int64
	Status   domain.Status
	Open     bool // only pending, preparing and ready orders
	Unpaid   bool // only orders without a standing payment
	Limit    int
}

// OrderList is a page of orders and the event-log head at the time of the
// read: a stream started with since=LastEventID continues it without a gap.
type OrderList struct {
	Orders      []domain.Order `json:"orders"`
	LastEventID int64          `json:"last_event_id"`
}

// Orders lists orders.
func (c *Client) Orders(ctx context.Context, f OrderFilter) (OrderList, error) {
	q := url.Values{}
	if f.TenantID != 0 {
		q.Set("tenant_id", strconv.FormatInt(f.TenantID, 10))
	}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Open {
		q.Set("open", "true")
	}
	if f.Unpaid {
		q.Set("unpaid", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out OrderList
	err := c.do(ctx, http.MethodGet, "/api/orders", q, nil, &out, nil)
	return out, err
}

// Order fetches one order with its items, payments and QR code.
func (c *Client) Order(ctx context.Context, id int64) (domain.Order, error) {
	var o domain.Order
	err := c.do(ctx, http.MethodGet, idPath("/api/orders", id, ""), nil, nil, &o, nil)
	return o, err
}

// SetStatus moves an order one step forward and returns it updated.
func (c *Client) SetStatus(ctx context.Context, id int64, status domain.Status, opts ...Option) (domain.Order, error) {
	var o domain.Order
	err := c.do(ctx, http.MethodPatch, idPath("/api/orders", id, "/status"), nil, map[string]string{"status": string(status)}, &o, opts)
	return o, err
}

// Cancel cancels an order with a reason (refunding what was paid) and returns it.
func (c *Client) Cancel(ctx context.Context, id int64, reason string, opts ...Option) (domain.Order, error) {
	var o domain.Order
	err := c.do(ctx, http.MethodDelete, idPath("/api/orders", id, ""), nil, map[string]string{"reason": reason}, &o, opts)
	return o, err
}

// PayRequest is the body of POST /api/payments.
type PayRequest struct {
	OrderID       int64         `json:"order_id"`
	AmountPaid    int64         `json:"amount_paid"`
	PaymentMethod domain.Method `json:"payment_method"`
	CounterID     int64         `json:"counter_id"`
}

// Pay takes a payment; the result carries the change to hand back.
func (c *Client) Pay(ctx context.Context, req PayRequest, opts ...Option) (domain.Payment, error) {
	var p domain.Payment
	err := c.do(ctx, http.MethodPost, "/api/payments", nil, req, &p, opts)
	return p, err
}

// Payments lists payments and refunds, of one counter when counterID is not
// zero, made at or after since when since is not zero.
func (c *Client) Payments(ctx context.Context, counterID int64, since time.Time) ([]domain.Payment, error) {
	q := url.Values{}
	if counterID != 0 {
		q.Set("counter_id", strconv.FormatInt(counterID, 10))
	}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	var out struct {
		Payments []domain.Payment `json:"payments"`
	}
	err := c.do(ctx, http.MethodGet, "/api/payments", q, nil, &out, nil)
	return out.Payments, err
}

// Refund returns amount (0: all that is left) of a payment and returns the
// refund's own payment row.
func (c *Client) Refund(ctx context.Context, paymentID int64, reason string, amount int64, opts ...Option) (domain.Payment, error) {
	body := struct {
		Reason string `json:"reason"`
		Amount int64  `json:"amount,omitempty"`
	}{reason, amount}
	var p domain.Payment
	err := c.do(ctx, http.MethodPost, idPath("/api/payments", paymentID, "/refund"), nil, body, &p, opts)
	return p, err
}

// ScanQR records a scan of an order's pickup code.
func (c *Client) ScanQR(ctx context.Context, token string, opts ...Option) (domain.QRCode, error) {
	var q domain.QRCode
	err := c.do(ctx, http.MethodPost, "/api/qr/scan", nil, map[string]string{"token": token}, &q, opts)
	return q, err
}

// ScanCode records a pickup by the order's short pickup code, as typed.
func (c *Client) ScanCode(ctx context.Context, code string, opts ...Option) (domain.QRCode, error) {
	var q domain.QRCode
	err := c.do(ctx, http.MethodPost, "/api/qr/scan", nil, map[string]string{"code": code}, &q, opts)
	return q, err
}

// Alert broadcasts a system alert to every connection and returns its event.
func (c *Client) Alert(ctx context.Context, severity, message string, opts ...Option) (Event, error) {
	var ev Event
	err := c.do(ctx, http.MethodPost, "/api/alerts", nil, map[string]string{"severity": severity, "message": message}, &ev, opts)
	return ev, err
}

// Notify sends a notification to one user's room and returns its event.
func (c *Client) Notify(ctx context.Context, userID int64, typ string, data json.RawMessage, opts ...Option) (Event, error) {
	body := struct {
		UserID int64           `json:"user_id"`
		Type   string          `json:"type"`
		Data   json.RawMessage `json:"data,omitempty"`
	}{userID, typ, data}
	var ev Event
	err := c.do(ctx, http.MethodPost, "/api/notifications", nil, body, &ev, opts)
	return ev, err
}

// EventPage is a page of the event log; continue with since=NextSince.
// Gap says retention already deleted events after the since asked for;
// OldestID is then the oldest id still kept.
type EventPage struct {
	Events    []Event `json:"events"`
	NextSince int64   `json:"next_since"`
	Gap       bool    `json:"gap,omitempty"`
	OldestID  int64   `json:"oldest_id,omitempty"`
}

// Events pages through the event log after since, of one room when room is
// not empty.
func (c *Client) Events(ctx context.Context, since int64, room string, limit int) (EventPage, error) {
	q := url.Values{}
	q.Set("since", strconv.FormatInt(since, 10))
	if room != "" {
		q.Set("room", room)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out EventPage
	err := c.do(ctx, http.MethodGet, "/api/events", q, nil, &out, nil)
	return out, err
}

// Connections is the number of open connections.
func (c *Client) Connections(ctx context.Context) (int, error) {
	var out struct {
		Active int `json:"active"`
	}
	err := c.do(ctx, http.MethodGet, "/api/connections", nil, nil, &out, nil)
	return out.Active, err
}

// ConnectionsOnNodes is the number of open connections across the live
// nodes, and how many nodes were counted (0 from a server that predates
// the count).
func (c *Client) ConnectionsOnNodes(ctx context.Context) (active, nodes int, err error) {
	var out struct {
		Active int `json:"active"`
		Nodes  int `json:"nodes"`
	}
	err = c.do(ctx, http.MethodGet, "/api/connections", nil, nil, &out, nil)
	return out.Active, out.Nodes, err
}

// ConnectionStats is GET /api/connections: open connections summed over
// the live nodes, how many nodes were counted, and how many connections the
// answering node closed as slow consumers since it started.
type ConnectionStats struct {
	Active             int   `json:"active"`
	Nodes              int   `json:"nodes"`
	SlowConsumerCloses int64 `json:"slow_consumer_closes"`
}

// ConnectionStats reads the connection counts (admin).
func (c *Client) ConnectionStats(ctx context.Context) (ConnectionStats, error) {
	var out ConnectionStats
	err := c.do(ctx, http.MethodGet, "/api/connections", nil, nil, &out, nil)
	return out, err
}

// Node is one node sharing the server's database, as GET /api/nodes
// lists it.
type Node struct {
	ID          string         `json:"id"`
	Addr        string         `json:"addr"`
	StartedAt   time.Time      `json:"started_at"`
	HeartbeatAt time.Time      `json:"heartbeat_at"`
	Connections int            `json:"connections"`
	Rooms       map[string]int `json:"rooms"`
	Delivered   int64          `json:"delivered"`
	Lag         int64          `json:"lag"`
	Live        bool           `json:"live"`
	Self        bool           `json:"self"`
}

// NodeList is GET /api/nodes: the log's head and every node.
type NodeList struct {
	Head  int64  `json:"head"`
	Nodes []Node `json:"nodes"`
}

// Nodes lists the nodes sharing the server's database (admin).
func (c *Client) Nodes(ctx context.Context) (NodeList, error) {
	var out NodeList
	err := c.do(ctx, http.MethodGet, "/api/nodes", nil, nil, &out, nil)
	return out, err
}

// Rooms returns the number of clients in each room, as the server reports
// them: {"rooms":{"display":2}} or {"rooms":[{"room":"display","clients":2}]}.
func (c *Client) Rooms(ctx context.Context) (map[string]int, error) {
	var out struct {
		Rooms json.RawMessage `json:"rooms"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/rooms", nil, nil, &out, nil); err != nil {
		return nil, err
	}
	return decodeRooms(out.Rooms)
}

func decodeRooms(raw json.RawMessage) (map[string]int, error) {
	rooms := map[string]int{}
	if len(raw) == 0 || string(raw) == "null" {
		return rooms, nil
	}
	if raw[0] == '{' {
		err := json.Unmarshal(raw, &rooms)
		return rooms, err
	}
	var list []struct {
		Room    string `json:"room"`
		Name    string `json:"name"`
		Clients int    `json:"clients"`
		Count   int    `json:"count"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	for _, r := range list {
		name := r.Room
		if name == "" {
			name = r.Name
		}
		rooms[name] = r.Clients + r.Count
	}
	return rooms, nil
}

// DisconnectRoom disconnects every client of a room and returns how many.
func (c *Client) DisconnectRoom(ctx context.Context, room string, opts ...Option) (int, error) {
	var out struct {
		Disconnected int `json:"disconnected"`
	}
	err := c.do(ctx, http.MethodDelete, "/api/rooms/"+url.PathEscape(room)+"/connections", nil, nil, &out, opts)
	return out.Disconnected, err
}

// TokenRequest is the body of POST /api/tokens.
type TokenRequest struct {
	Role      string `json:"role"`
	Name      string `json:"name,omitempty"`
	TenantID  int64  `json:"tenant_id,omitempty"`
	CounterID int64  `json:"counter_id,omitempty"`
	UserID    int64  `json:"user_id,omitempty"`
	Display   bool   `json:"display,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"` // a duration such as 720h
}

// Token describes an API token. Secret is only set in the answer to
// CreateToken: the server keeps a hash and cannot show it again.
type Token struct {
	ID        int64      `json:"id"`
	Role      string     `json:"role"`
	Name      string     `json:"name,omitempty"`
	TenantID  int64      `json:"tenant_id,omitempty"`
	CounterID int64      `json:"counter_id,omitempty"`
	UserID    int64      `json:"user_id,omitempty"`
	Display   bool       `json:"display,omitempty"`
	Secret    string     `json:"token,omitempty"`
	CreatedAt time.Time  `json:"created_at,omitzero"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreateToken issues a token.
func (c *Client) CreateToken(ctx context.Context, req TokenRequest, opts ...Option) (Token, error) {
	var t Token
	err := c.do(ctx, http.MethodPost, "/api/tokens", nil, req, &t, opts)
	return t, err
}

// ListTokens lists the tokens (never their secrets).
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	err := c.do(ctx, http.MethodGet, "/api/tokens", nil, nil, &out, nil)
	return out.Tokens, err
}

// RevokeToken revokes a token; its open connections are closed (4001).
func (c *Client) RevokeToken(ctx context.Context, id int64, opts ...Option) error {
	return c.do(ctx, http.MethodDelete, idPath("/api/tokens", id, ""), nil, nil, nil, opts)
}

// Health checks GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil, nil)
}
