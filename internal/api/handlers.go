package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
)

func decodeRequest(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(body, v)
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Name string `json:"name"`
		Code string `json:"code"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	t, err := a.cfg.Service.CreateTenant(r.Context(), p, in.Name, in.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (a *API) listTenants(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ts, err := a.cfg.Service.Tenants(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": ts})
	return nil
}

func (a *API) createCounter(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	c, err := a.cfg.Service.CreateCounter(r.Context(), p, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) listCounters(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	cs, err := a.cfg.Service.Counters(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"counters": cs})
	return nil
}

// orderInput mirrors service.NewOrder with item fields spelled out, so that
// unknown fields inside items are refused too.
type orderInput struct {
	TenantID     int64  `json:"tenant_id"`
	CustomerName string `json:"customer_name"`
	Items        []struct {
		Name      string `json:"name"`
		Quantity  int64  `json:"quantity"`
		UnitPrice int64  `json:"unit_price"`
		Notes     string `json:"notes"`
	} `json:"items"`
}

func (a *API) createOrder(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in orderInput
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	if len(in.Items) > domain.MaxItems {
		return domain.Errorf(domain.CodeInvalid, "an order holds at most %d items (got %d)", domain.MaxItems, len(in.Items))
	}
	no := service.NewOrder{TenantID: in.TenantID, CustomerName: in.CustomerName, Items: make([]domain.Item, len(in.Items))}
	for i, it := range in.Items {
		no.Items[i] = domain.Item{Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice, Notes: it.Notes}
	}
	o, err := a.cfg.Service.CreateOrder(r.Context(), p, no)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, o)
	return nil
}

func (a *API) listOrders(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	var f store.OrderFilter
	var err error
	if f.TenantID, err = queryInt(r, "tenant_id"); err != nil {
		return err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	f.Limit = int(limit)
	if s := q.Get("status"); s != "" {
		for _, part := range strings.Split(s, ",") {
			if part == "open" {
				f.Statuses = append(f.Statuses, domain.StatusPending, domain.StatusPreparing, domain.StatusReady)
				continue
			}
			st, err := domain.ParseStatus(part)
			if err != nil {
				return err
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	switch q.Get("open") {
	case "", "false", "0":
	case "true", "1":
		f.Statuses = append(f.Statuses, domain.StatusPending, domain.StatusPreparing, domain.StatusReady)
	default:
		return domain.Errorf(domain.CodeInvalid, "open must be true or false")
	}
	switch q.Get("unpaid") {
	case "", "false", "0":
	case "true", "1":
		f.Unpaid = true
	default:
		return domain.Errorf(domain.CodeInvalid, "unpaid must be true or false")
	}
	list, err := a.cfg.Service.Orders(r.Context(), p, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": list.Value(), "last_event_id": list.LastEventID})
	return nil
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := service.MayReadOrders(p); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	o, err := a.cfg.Service.Order(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o.Value())
	return nil
}

// Order writes answer 403 up front to tokens that may change no order at all
// (display, kasir, user), before any lookup, so the answer says nothing about
// the id; a tenant token asking about another stall's order gets the 404 of
// a missing one (service.orderInScope). The service refuses the first kind
// itself too; the handlers ask first so a malformed id or body changes
// nothing in that answer.

func (a *API) setStatus(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.CanWriteAnyOrder() {
		return domain.Errorf(domain.CodeForbidden, "this token may not change orders")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Status string `json:"status"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	st, err := domain.ParseStatus(in.Status)
	if err != nil {
		return err
	}
	o, err := a.cfg.Service.SetStatus(r.Context(), p, id, st)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (a *API) cancelOrder(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.CanWriteAnyOrder() {
		return domain.Errorf(domain.CodeForbidden, "this token may not cancel orders")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	o, err := a.cfg.Service.Cancel(r.Context(), p, id, in.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (a *API) pay(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in service.NewPayment
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	pay, err := a.cfg.Service.Pay(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, pay)
	return nil
}

func (a *API) listPayments(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var f store.PaymentFilter
	var err error
	if f.CounterID, err = queryInt(r, "counter_id"); err != nil {
		return err
	}
	if s := r.URL.Query().Get("since"); s != "" {
		// An id (payments after it) or an RFC 3339 time (since a shift began).
		if t, terr := time.Parse(time.RFC3339, s); terr == nil {
			f.SinceTime = t
		} else if f.SinceID, err = queryInt(r, "since"); err != nil {
			return domain.Errorf(domain.CodeInvalid, "since must be a payment id or an RFC 3339 time, not %q", s)
		}
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	f.Limit = int(limit)
	ps, err := a.cfg.Service.Payments(r.Context(), p, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"payments": ps})
	return nil
}

func (a *API) refund(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
		Amount int64  `json:"amount"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	ref, err := a.cfg.Service.Refund(r.Context(), p, id, in.Reason, in.Amount)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ref)
	return nil
}

func (a *API) scanQR(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.CanScanAny() {
		return domain.Errorf(domain.CodeForbidden, "this token may not scan QR codes")
	}
	var in struct {
		Token string `json:"token"`
		Code  string `json:"code"` // the short pickup code a person typed
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	var q *domain.QRCode
	var err error
	switch {
	case in.Token != "" && in.Code != "":
		return domain.Errorf(domain.CodeInvalid, "give token or code, not both")
	case in.Code != "":
		q, err = a.cfg.Service.ScanCode(r.Context(), p, in.Code)
	default:
		q, err = a.cfg.Service.ScanQR(r.Context(), p, in.Token)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}

func (a *API) alert(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Severity string `json:"severity"`
		Message  string `json:"message"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	ev, err := a.cfg.Service.Alert(r.Context(), p, in.Severity, in.Message)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ev)
	return nil
}

func (a *API) notify(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		UserID int64           `json:"user_id"`
		Type   string          `json:"type"`
		Data   json.RawMessage `json:"data"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	ev, err := a.cfg.Service.Notify(r.Context(), p, in.UserID, in.Type, in.Data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ev)
	return nil
}

func (a *API) events(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	since, err := queryInt(r, "since")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	page, err := a.cfg.Service.Events(r.Context(), p, service.EventQuery{Since: since, Room: r.URL.Query().Get("room"), Limit: int(limit)})
	if err != nil {
		return err
	}
	body := map[string]any{"events": page.Events, "next_since": page.NextSince}
	if page.Gap {
		body["gap"] = true
		body["oldest_id"] = page.OldestID
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func requireAdmin(p auth.Principal) error {
	if !p.IsAdmin() {
		return domain.Errorf(domain.CodeForbidden, "this route is for admin tokens")
	}
	return nil
}

// liveNodes is every live node's figures (this node's live), or this
// node's alone when there is no cluster.
func (a *API) liveNodes(ctx context.Context) ([]NodeView, error) {
	if a.cfg.Cluster == nil {
		return []NodeView{{NodeInfo: store.NodeInfo{Connections: a.cfg.Hub.Active(), Rooms: a.cfg.Hub.RoomSizes()}, Live: true, Self: true}}, nil
	}
	all, err := a.cfg.Cluster.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	live := all[:0:0]
	for _, n := range all {
		if n.Live {
			live = append(live, n)
		}
	}
	return live, nil
}

func (a *API) connections(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	nodes, err := a.liveNodes(r.Context())
	if err != nil {
		return err
	}
	active := 0
	for _, n := range nodes {
		active += n.Connections
	}
	// The slow closes are this node's since it started: nodes do not share
	// the counter (their heartbeats carry connections and rooms only).
	var slow int64
	if a.cfg.SlowCloses != nil {
		slow = a.cfg.SlowCloses.SlowConsumerCloses()
	}
	writeJSON(w, http.StatusOK, map[string]int64{"active": int64(active), "nodes": int64(len(nodes)), "slow_consumer_closes": slow})
	return nil
}

func (a *API) rooms(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	nodes, err := a.liveNodes(r.Context())
	if err != nil {
		return err
	}
	sizes := map[string]int{}
	for _, n := range nodes {
		for room, c := range n.Rooms {
			sizes[room] += c
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": sizes, "nodes": len(nodes)})
	return nil
}

func (a *API) room(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	room, err := domain.ParseRoom(r.PathValue("room"))
	if err != nil {
		return err
	}
	nodes, err := a.liveNodes(r.Context())
	if err != nil {
		return err
	}
	clients := 0
	for _, n := range nodes {
		clients += n.Rooms[room.String()]
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": room.String(), "clients": clients, "nodes": len(nodes)})
	return nil
}

// nodes lists every node that shares the database, live or not, with how
// far its delivery is behind the log.
func (a *API) nodes(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	var all []NodeView
	if a.cfg.Cluster != nil {
		var err error
		if all, err = a.cfg.Cluster.Nodes(r.Context()); err != nil {
			return err
		}
	}
	var head int64
	if a.cfg.Lag != nil {
		var err error
		if head, _, err = a.cfg.Lag.LogPosition(r.Context()); err != nil {
			return err
		}
	}
	type row struct {
		NodeView
		Lag int64 `json:"lag"`
	}
	out := make([]row, 0, len(all))
	for _, n := range all {
		out = append(out, row{NodeView: n, Lag: max(head-n.Delivered, 0)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"head": head, "nodes": out})
	return nil
}

// disconnectRoom closes the room's connections here and tells the other
// nodes to close theirs: the count is this node's, the others act within
// moments.
func (a *API) disconnectRoom(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	room, err := domain.ParseRoom(r.PathValue("room"))
	if err != nil {
		return err
	}
	n := a.cfg.Hub.DisconnectRoom(room.String())
	body := map[string]any{"room": room.String(), "disconnected": n, "other_nodes": 0}
	if a.cfg.Cluster != nil {
		// Sent even when no other node is known yet: one that started in
		// the last heartbeat is listening already.
		cmd := store.Command{Kind: store.CmdCloseRoom, From: a.cfg.Cluster.NodeID(), Room: room.String()}
		if err := a.cfg.Cluster.Broadcast(r.Context(), cmd); err != nil {
			// This node's sockets are closed and the others' are not: the
			// admin must hear it, to retry.
			a.log.Error("room disconnect not sent to the other nodes", "room", room.String(), "err", err)
			body["other_nodes_told"] = false
		} else if live, err := a.liveNodes(r.Context()); err == nil {
			body["other_nodes"] = max(len(live)-1, 0)
			body["other_nodes_told"] = true
		}
	}
	a.log.Info("room disconnected", "room", room.String(), "connections", n)
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	var spec auth.TokenSpec
	if err := decodeRequest(r, &spec); err != nil {
		return err
	}
	tok, err := a.cfg.Tokens.Create(r.Context(), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tok)
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	ts, err := a.cfg.Tokens.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.cfg.Tokens.Revoke(r.Context(), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
	return nil
}
