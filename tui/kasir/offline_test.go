package kasir

import (
	"strings"
	"testing"

	"github.com/posd/posd/internal/client"
)

// While the stream is down the cashier cannot take money or refund: the
// panel says so at once and nothing is sent.
func TestPaymentWhileDisconnectedIsRefusedVisibly(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyEnter) // pay NG-001
	u.event(client.Update{State: &client.State{Conn: client.Reconnecting, Attempt: 1, Since: t0}})
	drive(m, keyEnter)
	if len(u.api.pays) != 0 {
		t.Fatalf("a payment was sent while reconnecting: %+v", u.api.pays)
	}
	if m.pay == nil || m.pay.busy || !strings.Contains(m.View(), "offline: payment not taken") {
		t.Fatalf("the refusal is not on screen:\n%s", m.View())
	}
	u.event(live())
	drive(m, keyEnter)
	if len(u.api.pays) != 1 || m.mode != modeReceipt {
		t.Fatalf("after reconnect: %d payments, mode %v", len(u.api.pays), m.mode)
	}
	drive(m, keyEnter)
	// A refund likewise.
	drive(m, keyTab)
	drive(m, keyRunes("r"))
	drive(m, keyRunes("salah"))
	u.event(client.Update{State: &client.State{Conn: client.Offline, Attempt: 4, Since: t0}})
	drive(m, keyEnter)
	if len(u.api.refunds) != 0 || m.refund == nil || !strings.Contains(m.refund.err, "offline: not refunded") {
		t.Fatalf("refund while offline: sent %d, form %+v", len(u.api.refunds), m.refund)
	}
}
