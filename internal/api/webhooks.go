package api

import (
	"net/http"
	"strconv"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
)

// Webhook routes: scope is the service's (an admin manages every
// endpoint, a stall's token its own stall's; another stall's is not found).

func (a *API) addWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in service.NewWebhook
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	created, err := a.cfg.Service.AddWebhook(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, created)
	return nil
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ws, err := a.cfg.Service.ListWebhooks(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": ws})
	return nil
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return a.webhookCall(w, r, func(id int64) (*store.Webhook, error) { return a.cfg.Service.Webhook(r.Context(), p, id) })
}

func (a *API) pauseWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return a.webhookCall(w, r, func(id int64) (*store.Webhook, error) { return a.cfg.Service.PauseWebhook(r.Context(), p, id) })
}

func (a *API) resumeWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	hook, err := a.cfg.Service.ResumeWebhook(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hook)
	return nil
}

func (a *API) replayWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Since *int64 `json:"since"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	if in.Since == nil {
		return domain.Errorf(domain.CodeInvalid, "since (an event id) is required")
	}
	return a.webhookCall(w, r, func(id int64) (*store.Webhook, error) {
		return a.cfg.Service.ReplayWebhook(r.Context(), p, id, *in.Since)
	})
}

func (a *API) webhookCall(w http.ResponseWriter, r *http.Request, do func(id int64) (*store.Webhook, error)) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	hook, err := do(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hook)
	return nil
}

func (a *API) removeWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	removed, err := a.cfg.Service.RemoveWebhook(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, removed)
	return nil
}

func (a *API) testWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := a.cfg.Service.TestWebhook(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (a *API) webhookDeliveries(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
			return domain.Errorf(domain.CodeInvalid, "limit must be a positive integer")
		}
	}
	ds, err := a.cfg.Service.WebhookDeliveries(r.Context(), p, id, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
	return nil
}
