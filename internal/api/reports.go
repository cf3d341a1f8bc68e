package api

import (
	"net/http"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// reportQuery reads date=, from= and to=, month= and tenant= (local days
// in the server's zone; none is today).
func reportQuery(r *http.Request) (report.Query, error) {
	q := r.URL.Query()
	tenant, err := queryInt(r, "tenant")
	if err != nil {
		return report.Query{}, err
	}
	return report.Query{Date: q.Get("date"), From: q.Get("from"), To: q.Get("to"), Month: q.Get("month"), TenantID: tenant}, nil
}

func (a *API) salesReport(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := reportQuery(r)
	if err != nil {
		return err
	}
	out, err := a.cfg.Service.SalesReport(r.Context(), p, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) speedReport(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := reportQuery(r)
	if err != nil {
		return err
	}
	var late time.Duration
	if s := r.URL.Query().Get("late"); s != "" {
		if late, err = time.ParseDuration(s); err != nil || late <= 0 {
			return domain.Errorf(domain.CodeInvalid, "late must be a positive duration such as 15m, not %q", s)
		}
	}
	out, err := a.cfg.Service.SpeedReport(r.Context(), p, q, late)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) settlementReport(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := reportQuery(r)
	if err != nil {
		return err
	}
	out, err := a.cfg.Service.SettlementReport(r.Context(), p, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) eventsReport(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := reportQuery(r)
	if err != nil {
		return err
	}
	out, err := a.cfg.Service.EventsReport(r.Context(), p, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) reportTerms(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	out, err := a.cfg.Service.Terms(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) closePeriod(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Month string `json:"month"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	out, err := a.cfg.Service.ClosePeriod(r.Context(), p, in.Month)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) setShare(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		From string `json:"from"`
		BP   int64  `json:"bp"`
	}
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	out, err := a.cfg.Service.SetShare(r.Context(), p, report.Share{TenantID: id, From: in.From, BP: in.BP})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) setFee(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in report.Fee
	if err := decodeRequest(r, &in); err != nil {
		return err
	}
	out, err := a.cfg.Service.SetFee(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}
