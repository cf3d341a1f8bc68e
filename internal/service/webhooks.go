package service

import (
	"context"
	"slices"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

// WebhookStore is where endpoints are kept.
type WebhookStore interface {
	store.Webhooks
	LastEventID(ctx context.Context) (int64, error)
	HorizonFor(ctx context.Context, rooms []string) (int64, error)
}

// WebhookDelivery is what the service needs of delivery: the destination
// policy, a ping sent now, secrets, and a way to say endpoints changed.
type WebhookDelivery interface {
	// CheckURL refuses a URL the destination policy does not allow.
	CheckURL(ctx context.Context, raw string) error
	NewSecret() string
	Ping(ctx context.Context, w store.Webhook) store.WebhookDelivery
	// Changed says endpoints were added or changed, so that the node
	// that delivers them (any node) takes the change up at once.
	Changed()
}

// Webhooks wires webhooks into a Service; nil fields disable them.
type Webhooks struct {
	Store    WebhookStore
	Delivery WebhookDelivery
}

// MaxWebhooks is how many endpoints one stall, or the admins, may have:
// each is a goroutine and a connection on the node that delivers it.
const MaxWebhooks = 100

// NewWebhook is the input of AddWebhook.
type NewWebhook struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// TenantID: the stall whose events it gets; 0 for a stall's token
	// means its own stall, for an admin every event.
	TenantID int64 `json:"tenant_id"`
}

// CreatedWebhook is a new endpoint with its secret, shown this once.
type CreatedWebhook struct {
	store.Webhook
	Secret string `json:"secret"`
}

// ChangedWebhook is an endpoint after an operator's change, with what the
// change could not give back.
type ChangedWebhook struct {
	store.Webhook
	// Pruned: retention deleted events past the cursor before the endpoint
	// got them (a paused or disabled endpoint does not hold it back);
	// Warning says so in words.
	Pruned  *store.WebhookGap `json:"pruned,omitempty"`
	Warning string            `json:"warning,omitempty"`
}

// mayManageWebhooks: admins manage every endpoint, a stall's token its
// stall's; nobody else any, and they are told so before any lookup.
func mayManageWebhooks(p auth.Principal) error {
	if p.IsAdmin() || p.Role == auth.RoleTenant {
		return nil
	}
	return forbidden("only an admin or a stall's token may manage webhooks")
}

func (s *Service) webhooksOn() error {
	if s.hooks.Store == nil || s.hooks.Delivery == nil {
		return domain.Errorf(domain.CodeNotFound, "webhooks are not available on this server")
	}
	return nil
}

// AddWebhook registers an endpoint. It starts at the log's head: it gets
// what commits from now on (replay sends older events).
func (s *Service) AddWebhook(ctx context.Context, p auth.Principal, in NewWebhook) (CreatedWebhook, error) {
	if err := mayManageWebhooks(p); err != nil {
		return CreatedWebhook{}, err
	}
	if err := s.webhooksOn(); err != nil {
		return CreatedWebhook{}, err
	}
	if p.Role == auth.RoleTenant {
		if in.TenantID != 0 && in.TenantID != p.TenantID {
			return CreatedWebhook{}, forbidden("this token may not add webhooks for tenant %d", in.TenantID)
		}
		in.TenantID = p.TenantID
	}
	if in.TenantID < 0 {
		return CreatedWebhook{}, domain.Errorf(domain.CodeInvalid, "tenant_id must be a positive integer")
	}
	events := []string{}
	for _, e := range in.Events {
		if !slices.Contains(domain.EventNames, e) {
			return CreatedWebhook{}, domain.Errorf(domain.CodeInvalid, "unknown event %q (want one of %v)", e, domain.EventNames)
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	if err := s.hooks.Delivery.CheckURL(ctx, in.URL); err != nil {
		return CreatedWebhook{}, err
	}
	all, err := s.hooks.Store.ListWebhooks(ctx)
	if err != nil {
		return CreatedWebhook{}, err
	}
	if n := len(slices.DeleteFunc(all, func(w store.Webhook) bool { return w.TenantID != in.TenantID })); n >= MaxWebhooks {
		return CreatedWebhook{}, domain.Errorf(domain.CodeConflict, "at most %d webhooks per stall (and for the admins)", MaxWebhooks)
	}
	head, err := s.hooks.Store.LastEventID(ctx)
	if err != nil {
		return CreatedWebhook{}, err
	}
	secret := s.hooks.Delivery.NewSecret()
	// In one transaction with the request's idempotency record: a client
	// that lost the answer and retries with the same key gets this answer
	// again, secret included, instead of a second endpoint.
	created, err := write(ctx, s, func(tx store.Tx) (CreatedWebhook, error) {
		w := store.Webhook{TenantID: in.TenantID, URL: in.URL, Events: events, Secret: secret,
			State: store.WebhookActive, Cursor: head, CreatedAt: tx.Now().UTC().Truncate(time.Millisecond)}
		if err := tx.InsertWebhook(&w); err != nil {
			return CreatedWebhook{}, err
		}
		return CreatedWebhook{Webhook: w, Secret: w.Secret}, nil
	})
	if err != nil {
		return CreatedWebhook{}, err
	}
	s.hooks.Delivery.Changed()
	return created, nil
}

// ListWebhooks lists the endpoints p manages.
func (s *Service) ListWebhooks(ctx context.Context, p auth.Principal) ([]store.Webhook, error) {
	if err := mayManageWebhooks(p); err != nil {
		return nil, err
	}
	if err := s.webhooksOn(); err != nil {
		return nil, err
	}
	all, err := s.hooks.Store.ListWebhooks(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(w store.Webhook) bool { return !p.IsAdmin() && w.TenantID != p.TenantID }), nil
}

// Webhook is one endpoint p manages; another stall's is not found.
func (s *Service) Webhook(ctx context.Context, p auth.Principal, id int64) (*store.Webhook, error) {
	if err := mayManageWebhooks(p); err != nil {
		return nil, err
	}
	if err := s.webhooksOn(); err != nil {
		return nil, err
	}
	w, err := s.hooks.Store.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.IsAdmin() && w.TenantID != p.TenantID {
		return nil, domain.Errorf(domain.CodeNotFound, "webhook %d not found", id)
	}
	return w, nil
}

// RemovedWebhook is the answer to a removal.
type RemovedWebhook struct {
	ID      int64 `json:"id"`
	Removed bool  `json:"removed"`
}

// RemoveWebhook forgets an endpoint. The removal commits with the
// request's idempotency record: a client that lost the answer and retries
// with the same key gets this answer again, not a 404.
func (s *Service) RemoveWebhook(ctx context.Context, p auth.Principal, id int64) (RemovedWebhook, error) {
	if _, err := s.Webhook(ctx, p, id); err != nil {
		return RemovedWebhook{}, err
	}
	out, err := write(ctx, s, func(tx store.Tx) (RemovedWebhook, error) {
		ok, err := tx.DeleteWebhook(id)
		if err != nil {
			return RemovedWebhook{}, err
		}
		if !ok { // removed by another request since the lookup
			return RemovedWebhook{}, domain.Errorf(domain.CodeNotFound, "webhook %d not found", id)
		}
		return RemovedWebhook{ID: id, Removed: true}, nil
	})
	if err != nil {
		return RemovedWebhook{}, err
	}
	s.hooks.Delivery.Changed()
	return out, nil
}

// PauseWebhook stops delivery; events wait in the log (retention may take
// them: a paused endpoint does not hold it back).
func (s *Service) PauseWebhook(ctx context.Context, p auth.Principal, id int64) (*store.Webhook, error) {
	return changeWebhook(ctx, s, p, id, store.WebhookChange{State: store.WebhookPaused}, asIs)
}

// ResumeWebhook delivers on from the cursor, a paused or disabled
// endpoint alike, with its retry clock started afresh. Events retention
// deleted past the cursor meanwhile cannot be sent: the answer names
// them, and the worker records them among the deliveries.
func (s *Service) ResumeWebhook(ctx context.Context, p auth.Principal, id int64) (*ChangedWebhook, error) {
	return changeWebhook(ctx, s, p, id, store.WebhookChange{State: store.WebhookActive}, func(w *store.Webhook) (*ChangedWebhook, error) {
		// Read after the change, before its commit (the answer commits
		// with the request's idempotency record): once it commits the
		// endpoint holds retention back, so only a prune already under way
		// can cut into it further, and the worker reports that.
		horizon, err := s.hooks.Store.HorizonFor(ctx, webhookRooms(w))
		if err != nil {
			return nil, err
		}
		out := &ChangedWebhook{Webhook: *w}
		if gap, ok := store.PrunedPast(w.Cursor, horizon); ok {
			out.Pruned, out.Warning = &gap, gap.String()
		}
		return out, nil
	})
}

// webhookRooms are the rooms whose events w gets; nil: every room.
func webhookRooms(w *store.Webhook) []string {
	if w.TenantID == 0 {
		return nil
	}
	return []string{domain.TenantRoom(w.TenantID)}
}

// ReplayWebhook sends again every event after since (an event id).
func (s *Service) ReplayWebhook(ctx context.Context, p auth.Principal, id, since int64) (*store.Webhook, error) {
	w, err := s.Webhook(ctx, p, id)
	if err != nil {
		return nil, err
	}
	head, err := s.hooks.Store.LastEventID(ctx)
	if err != nil {
		return nil, err
	}
	if since < 0 || since > head {
		return nil, domain.Errorf(domain.CodeInvalid, "since must be an event id from 0 to %d", head)
	}
	horizon, err := s.hooks.Store.HorizonFor(ctx, webhookRooms(w))
	if err != nil {
		return nil, err
	}
	// Refused rather than replayed with a hole: the receiver asked for
	// everything after since, and would not get it.
	if gap, ok := store.PrunedPast(since, horizon); ok {
		return nil, domain.Errorf(domain.CodeConflict, "%s and cannot be replayed: since must be at least %d", gap, horizon).
			With("reason", domain.ReasonPruned).With("first_since", horizon)
	}
	return changeWebhook(ctx, s, p, id, store.WebhookChange{Cursor: &since}, asIs)
}

func asIs(w *store.Webhook) (*store.Webhook, error) { return w, nil }

// changeWebhook applies c and renders the answer in one transaction with
// the request's idempotency record: a retry with the same key is answered
// as the first was, and does not pause, resume or move the cursor again
// (a replay retried after the endpoint moved on would send it all again).
func changeWebhook[T any](ctx context.Context, s *Service, p auth.Principal, id int64, c store.WebhookChange, answer func(*store.Webhook) (T, error)) (T, error) {
	var zero T
	if _, err := s.Webhook(ctx, p, id); err != nil {
		return zero, err
	}
	c.At = s.now()
	out, err := write(ctx, s, func(tx store.Tx) (T, error) {
		w, err := tx.ChangeWebhook(id, c)
		if err != nil {
			return zero, err
		}
		return answer(w)
	})
	if err != nil {
		return zero, err
	}
	s.hooks.Delivery.Changed()
	return out, nil
}

// TestWebhook sends a ping to the endpoint now and returns the attempt.
// With an idempotency key the attempt is recorded as the answer after the
// ping (nothing else to commit with it): a retry gets the first attempt
// again instead of a second ping. Twins racing in at once may both ping;
// the later is still answered with the first's attempt.
func (s *Service) TestWebhook(ctx context.Context, p auth.Principal, id int64) (store.WebhookDelivery, error) {
	w, err := s.Webhook(ctx, p, id)
	if err != nil {
		return store.WebhookDelivery{}, err
	}
	d := s.hooks.Delivery.Ping(ctx, *w)
	if !idempotent(ctx) {
		return d, nil
	}
	return write(ctx, s, func(store.Tx) (store.WebhookDelivery, error) { return d, nil })
}

// WebhookDeliveries lists the endpoint's newest attempts (at most
// store.WebhookDeliveriesKept are kept).
func (s *Service) WebhookDeliveries(ctx context.Context, p auth.Principal, id int64, limit int) ([]store.WebhookDelivery, error) {
	if _, err := s.Webhook(ctx, p, id); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > store.WebhookDeliveriesKept {
		limit = store.WebhookDeliveriesKept
	}
	return s.hooks.Store.WebhookDeliveries(ctx, id, limit)
}
