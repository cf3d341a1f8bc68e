package kasir

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/posd/posd/internal/domain"
)

// However narrow the screen, each queued order's number is whole: the name
// and the amount give way first.
func TestNarrowQueueKeepsTheOrderNumber(t *testing.T) {
	for _, w := range []int{30, 40, 60, 80} {
		u := newUnit(t)
		u.api.mu.Lock()
		o := u.api.orders[2]
		o.TotalAmount = 1_250_000_000 // a long amount: "Rp 1.250.000.000"
		u.api.orders[2] = o
		u.api.mu.Unlock()
		u.event(event(21, domain.EventOrderCreated, domain.OrderCreatedData{OrderID: 9, OrderNumber: "WARUNGSATE-0123", TotalAmount: 999_999_999, Status: domain.StatusPending}))
		drive(u.m, tea.WindowSizeMsg{Width: w, Height: 24})
		drive(u.m, tea.KeyMsg{Type: tea.KeyCtrlL}) // any key: redraw
		v := ansi.Strip(u.m.View())
		nums := []string{"NG-001", "BK-001", "NG-002", "EC-002", "SB-004", "(4)"}
		if w >= 60 {
			nums = append(nums, "WARUNGSATE-0123")
		}
		for _, num := range nums {
			if !strings.Contains(v, num) {
				t.Errorf("width %d: %s cut:\n%s", w, num, v)
			}
		}
	}
}
