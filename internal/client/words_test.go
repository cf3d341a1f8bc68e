package client

import (
	"errors"
	"testing"
)

// The server's structured details become sentences in Rupiah for people.
func TestAPIErrorWords(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"error":{"code":"unprocessable","message":"underpaid: order total is 107000, amount_paid is 100000 (short by 7000)","details":{"reason":"underpaid","total":107000,"amount_paid":100000,"short_by":7000}}}`,
			"Short by Rp 7.000: the order is Rp 107.000, Rp 100.000 was tendered."},
		{`{"error":{"code":"unprocessable","message":"refund of 30000 exceeds the 28000 that remains on payment 28","details":{"reason":"refund_exceeds_remaining","payment_id":28,"requested":30000,"remaining":28000}}}`,
			"At most Rp 28.000 can still be refunded."},
		{`{"error":{"code":"unprocessable","message":"qris payments must be exact","details":{"reason":"not_exact","payment_method":"qris","total":9000000000000000001,"amount_paid":1}}}`,
			"Pay exactly Rp 9.000.000.000.000.000.001 by QRIS; only cash can give change."},
		{`{"error":{"code":"conflict","message":"order is completed and can no longer be cancelled","details":{"reason":"not_cancellable","status":"completed"}}}`,
			"The order is already completed and can no longer be cancelled."},
		// No reason it knows: no words, the caller keeps the message.
		{`{"error":{"code":"conflict","message":"order 4 is already paid"}}`, ""},
	} {
		err := decodeError(422, []byte(tc.body))
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%T", err)
		}
		if got := ae.Words(); got != tc.want {
			t.Errorf("words %q, want %q", got, tc.want)
		}
		if ae.Message == "" || ae.Code == "" {
			t.Errorf("code/message lost: %+v", ae)
		}
	}
}
