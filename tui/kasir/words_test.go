package kasir

import (
	"strings"
	"testing"
)

// The cashier reads sentences in Rupiah, never the API's field names.
func TestRefusalsReadAsSentences(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyDown) // BK-001, Rp 22.000
	drive(m, keyEnter)
	drive(m, keyRunes("20000"))
	drive(m, keyEnter)
	if want := "Short by Rp 2.000: the order is Rp 22.000, Rp 20.000 was tendered."; m.pay.err != want {
		t.Fatalf("underpaid reads %q, want %q", m.pay.err, want)
	}
	drive(m, keyEsc)
	drive(m, keyTab) // payments: PAY-2 (QRIS Rp 18.000) first
	drive(m, keyRunes("r"))
	drive(m, keyRunes("salah"))
	drive(m, keyTab)
	drive(m, keyRunes("30000"))
	drive(m, keyEnter)
	if want := "At most Rp 18.000 can still be refunded."; m.refund.err != want {
		t.Fatalf("refund over the rest reads %q, want %q", m.refund.err, want)
	}
	if v := m.View(); strings.Contains(v, "amount_paid") || strings.Contains(v, "exceeds the") {
		t.Fatalf("API wording on screen:\n%s", v)
	}
}
