package display

import (
	"strings"
	"testing"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
)

// While the stream is down a bump or a cancel is refused at once, on screen,
// and nothing is sent: the cook knows the ticket did not move.
func TestActionsWhileDisconnectedAreRefusedVisibly(t *testing.T) {
	u := newUnit(t)
	m := u.m
	u.event(client.Update{State: &client.State{Conn: client.Reconnecting, Attempt: 2, Since: t0}})
	drive(m, keyEnter)
	if c := u.api.lastCall(); c.op == "status" || c.op == "cancel" {
		t.Fatalf("a bump was sent while reconnecting: %+v", c)
	}
	if tk := m.tickets[1]; tk.busy || tk.col != 0 {
		t.Fatalf("ticket busy=%v col=%d, want idle in Pending", tk.busy, tk.col)
	}
	if !strings.Contains(m.View(), "offline: NG-001 not bumped") {
		t.Fatalf("the refusal is not on screen:\n%s", m.View())
	}
	drive(m, keyRunes("x"))
	if m.cancelFor != 0 || !strings.Contains(m.status, "offline: NG-001 not cancelled") {
		t.Fatalf("cancel while offline: cancelFor %d, status %q", m.cancelFor, m.status)
	}
	// A cancel reason being typed when the stream drops is refused too.
	u.event(live())
	drive(m, keyRunes("x"))
	drive(m, keyRunes("habis"))
	u.event(client.Update{State: &client.State{Conn: client.Offline, Attempt: 9, Since: t0}})
	drive(m, keyEnter)
	if c := u.api.lastCall(); c.op == "status" || c.op == "cancel" {
		t.Fatalf("a cancel was sent while offline: %+v", c)
	}
	if !strings.Contains(m.status, "offline: NG-001 not cancelled") {
		t.Fatalf("status %q", m.status)
	}
	// Live again: the same key works.
	u.event(live())
	drive(m, keyEsc)
	drive(m, keyEnter)
	if c := u.api.lastCall(); c.op != "status" || c.id != 1 || c.status != domain.StatusPreparing {
		t.Fatalf("bump after reconnect: %+v", c)
	}
}
