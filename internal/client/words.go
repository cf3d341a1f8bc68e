package client

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/posd/posd/internal/domain"
)

// Words turns a refusal's details into a sentence for a cashier or a cook:
// amounts in Rupiah, no field names, no raw numbers. It returns "" when the
// server gave no reason it knows; callers then fall back to Message.
func (e *APIError) Words() string {
	if e == nil {
		return ""
	}
	reason, _ := e.Details["reason"].(string)
	rp := func(key string) string { return domain.Rupiah(e.Int(key)) }
	switch reason {
	case domain.ReasonUnderpaid:
		return "Short by " + rp("short_by") + ": the order is " + rp("total") + ", " + rp("amount_paid") + " was tendered."
	case domain.ReasonNotExact:
		return "Pay exactly " + rp("total") + " by " + methodWord(e.Details["payment_method"]) + "; only cash can give change."
	case domain.ReasonRefundExceeds:
		if e.Int("remaining") <= 0 {
			return "Nothing is left to refund on this payment."
		}
		return "At most " + rp("remaining") + " can still be refunded."
	case domain.ReasonFullyRefunded:
		return "This payment has already been refunded in full."
	case domain.ReasonRefundOfRefund:
		return "A refund cannot itself be refunded."
	case domain.ReasonIllegalTransition:
		from, _ := e.Details["from"].(string)
		to, _ := e.Details["to"].(string)
		return "The order is " + from + " now, so it cannot go to " + to + "."
	case domain.ReasonNotCancellable:
		st, _ := e.Details["status"].(string)
		return "The order is already " + st + " and can no longer be cancelled."
	}
	return ""
}

// Int reads a whole-number detail; 0 when absent.
func (e *APIError) Int(key string) int64 {
	switch v := e.Details[key].(type) {
	case json.Number:
		n, _ := strconv.ParseInt(v.String(), 10, 64)
		return n
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

func methodWord(v any) string {
	switch m, _ := v.(string); domain.Method(m) {
	case domain.MethodQRIS:
		return "QRIS"
	case "":
		return "this method"
	default:
		return strings.ReplaceAll(m, "_", "-")
	}
}
