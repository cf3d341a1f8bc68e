package kasir

import (
	"strings"
	"testing"

	"github.com/posd/posd/internal/domain"
)

// The selected order is paid at another counter: the selection goes to its
// neighbour (not to the top of the queue) and the screen says so.
func TestQueueSelectionFollowsTheOrder(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyDown) // NG-001, BK-001, NG-002: on BK-001
	if o, _ := m.selectedOrder(); o.ID != 2 {
		t.Fatalf("selected %d, want 2", o.ID)
	}
	u.event(event(21, domain.EventPaymentProcessed, domain.PaymentProcessedData{PaymentID: 60, OrderID: 2, AmountPaid: 22000}))
	if o, _ := m.selectedOrder(); o == nil || o.ID != 3 {
		t.Fatalf("after BK-001 was paid elsewhere the selection is %v, want its neighbour 3 (NG-002)", o)
	}
	if v := m.View(); !strings.Contains(v, "BK-001") || !strings.Contains(v, "now on NG-002") {
		t.Fatalf("the screen does not say the selection moved:\n%s", v)
	}
	// An order arriving or leaving elsewhere does not move the cursor.
	u.event(event(22, domain.EventOrderCreated, domain.OrderCreatedData{OrderID: 7, OrderNumber: "SM-001", TotalAmount: 33000, Status: domain.StatusPending}))
	u.event(event(23, domain.EventOrderCancelled, domain.OrderCancelledData{OrderID: 1, OrderNumber: "NG-001", Reason: "left"}))
	drive(m, keyEnter)
	if m.mode != modePay || m.pay.order.ID != 3 {
		t.Fatalf("enter opened %+v, want the payment of order 3", m.pay)
	}
}
