package display

import (
	"strings"
	"testing"

	"github.com/posd/posd/internal/domain"
)

// A ticket moved by another cook while selected: the next key must act on
// that ticket, not on whichever now sits where it was.
func TestSelectionFollowsAMovedTicket(t *testing.T) {
	u := newUnit(t)
	m := u.m
	u.api.orders[9] = order(9, 1, "NG-009", "Rina", domain.StatusPending, t0, domain.Item{Name: "Kwetiau", Quantity: 1, UnitPrice: 1})
	u.event(event(11, domain.EventOrderCreated, "order_created", domain.OrderCreatedData{OrderID: 9, OrderNumber: "NG-009", Status: domain.StatusPending}))
	if sel, _ := m.selected(0); sel.order.ID != 1 {
		t.Fatalf("selected %d, want NG-001", sel.order.ID)
	}
	// Another display bumps NG-001 to Preparing.
	u.event(event(12, domain.EventOrderStatusChanged, "order_status_changed", domain.OrderStatusChangedData{OrderID: 1, PreviousStatus: domain.StatusPending, NewStatus: domain.StatusPreparing}))
	if !strings.Contains(m.View(), "NG-001 moved to PREPARING") {
		t.Fatalf("the move is not told on screen:\n%s", m.View())
	}
	drive(m, keyRunes("x"))
	if m.cancelFor != 1 {
		t.Fatalf("x after the move opened a cancel for order %d, want 1 (NG-001, the selected ticket)", m.cancelFor)
	}
	if m.col != 1 {
		t.Fatalf("focus stayed on column %d, want 1 where NG-001 went", m.col)
	}
	if v := m.View(); !strings.Contains(v, "Cancel NG-001") {
		t.Fatalf("the cancel prompt does not name NG-001:\n%s", v)
	}
}

// A selected ticket that leaves the screen hands the selection to its
// neighbour, and the screen says so.
func TestSelectionGoesToANeighbourWhenTheTicketLeaves(t *testing.T) {
	u := newUnit(t)
	m := u.m
	for _, o := range []domain.Order{
		order(8, 1, "NG-008", "Rina", domain.StatusPending, t0.Add(-2e9), domain.Item{Name: "Kwetiau", Quantity: 1, UnitPrice: 1}),
		order(9, 1, "NG-009", "Tono", domain.StatusPending, t0, domain.Item{Name: "Kwetiau", Quantity: 1, UnitPrice: 1}),
	} {
		u.api.orders[o.ID] = o
		u.event(event(o.ID+10, domain.EventOrderCreated, "order_created", domain.OrderCreatedData{OrderID: o.ID, OrderNumber: o.OrderNumber, Status: domain.StatusPending}))
	}
	drive(m, keyDown) // NG-001, NG-008, NG-009: on NG-008
	if sel, _ := m.selected(0); sel.order.ID != 8 {
		t.Fatalf("selected %d, want 8", sel.order.ID)
	}
	u.event(event(30, domain.EventOrderStatusChanged, "order_status_changed", domain.OrderStatusChangedData{OrderID: 8, NewStatus: domain.StatusCompleted}))
	if sel, _ := m.selected(0); sel.order.ID != 9 {
		t.Fatalf("after NG-008 left, selected %d, want its neighbour 9", sel.order.ID)
	}
	if v := m.View(); !strings.Contains(v, "NG-008") || !strings.Contains(v, "now on NG-009") {
		t.Fatalf("the screen does not say the selection moved:\n%s", v)
	}
	// The cook's own bump is no surprise: the cursor stays put, quietly.
	drive(m, keyEnter) // NG-009 → preparing; the neighbour NG-001 is selected
	if sel, _ := m.selected(0); sel.order.ID != 1 || m.col != 0 {
		t.Fatalf("after own bump selected %d in column %d, want 1 in 0", sel.order.ID, m.col)
	}
	if strings.Contains(m.status, "now on") {
		t.Fatalf("own bump reported as a surprise: %q", m.status)
	}
}
