package kasir

import (
	"strings"
	"testing"

	"github.com/posd/posd/internal/domain"
)

// The order in the payment panel is paid at another counter: the panel says
// so at once and Enter takes no money.
func TestPaymentPanelPaidElsewhereGoesStale(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyEnter) // pay NG-001
	drive(m, keyRunes("100000"))
	u.event(event(21, domain.EventPaymentProcessed, domain.PaymentProcessedData{PaymentID: 60, OrderID: 1, OrderNumber: "NG-001", AmountPaid: 60000}))
	if v := m.View(); !strings.Contains(v, "NG-001 was just paid elsewhere") {
		t.Fatalf("the panel does not say the order was paid:\n%s", v)
	}
	drive(m, keyEnter)
	if len(u.api.pays) != 0 {
		t.Fatalf("money taken for an order already paid: %+v", u.api.pays)
	}
	if m.mode != modePay || !strings.Contains(m.View(), "esc") {
		t.Fatalf("mode %v: the panel should stay, saying esc goes back", m.mode)
	}
	drive(m, keyEsc)
	if m.mode != modeMain {
		t.Fatal("esc does not leave a stale panel")
	}
}

// Cancelled under the panel: same.
func TestPaymentPanelCancelledGoesStale(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyEnter)
	u.event(event(21, domain.EventOrderCancelled, domain.OrderCancelledData{OrderID: 1, OrderNumber: "NG-001", Reason: "customer left"}))
	drive(m, keyEnter)
	if len(u.api.pays) != 0 {
		t.Fatalf("money taken for a cancelled order: %+v", u.api.pays)
	}
	if v := m.View(); !strings.Contains(v, "NG-001 was just cancelled: customer left") {
		t.Fatalf("panel:\n%s", v)
	}
}

// Our own payment's event may arrive before its answer: that is not stale.
func TestOwnPaymentEventDoesNotStaleThePanel(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyEnter)
	m.pay.busy = true // our request in flight
	u.event(event(21, domain.EventPaymentProcessed, domain.PaymentProcessedData{PaymentID: 60, OrderID: 1, AmountPaid: 60000}))
	if m.pay.stale != "" {
		t.Fatalf("own payment marked the panel stale: %q", m.pay.stale)
	}
}
