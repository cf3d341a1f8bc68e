package api

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/posd/posd/internal/domain"
)

// A refusal carries the facts behind it as details; code and message stay
// what existing clients read.
func TestErrorBodyCarriesDetails(t *testing.T) {
	_, _, err := domain.SettlePayment(domain.MethodCash, 107000, 100000)
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("POST", "/api/payments", nil), slog.New(slog.DiscardHandler), err)
	if rec.Code != 422 {
		t.Fatalf("status %d", rec.Code)
	}
	var body struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != "unprocessable" || body.Error.Message != "underpaid: order total is 107000, amount_paid is 100000 (short by 7000)" {
		t.Fatalf("code/message changed: %+v", body.Error)
	}
	want := map[string]any{"reason": "underpaid", "total": 107000.0, "amount_paid": 100000.0, "short_by": 7000.0}
	if !reflect.DeepEqual(body.Error.Details, want) {
		t.Fatalf("details %v, want %v", body.Error.Details, want)
	}
}
