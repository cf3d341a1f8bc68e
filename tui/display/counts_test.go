package display

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/posd/posd/internal/domain"
)

var titleCount = regexp.MustCompile(`(PENDING|PREPARING|READY|PEND|PREP) \((\d+)\)`)

// titles returns each column title's count as shown.
func titles(v string) map[string]string {
	out := map[string]string{}
	for _, m := range titleCount.FindAllStringSubmatch(ansi.Strip(v), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// A column's title counts the tickets it holds: a cancelled ticket still on
// show and a recalled one are in their columns, so they are counted.
func TestColumnCountsWhatTheColumnHolds(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, tea.WindowSizeMsg{Width: 120, Height: 40})
	u.event(event(11, domain.EventOrderCancelled, "order_cancelled", domain.OrderCancelledData{OrderID: 1, Reason: "habis"}))
	drive(m, keyLeft) // Ready
	drive(m, keyEnter)
	drive(m, keyRunes("u")) // NG-002 completed, then recalled
	if tk := m.tickets[3]; tk == nil || !tk.recalled {
		t.Fatal("NG-002 not recalled")
	}
	got := titles(m.View())
	for c, name := range []string{"PENDING", "PREPARING", "READY"} {
		if want := fmt.Sprint(len(m.column(c))); got[name] != want {
			t.Errorf("%s title says %s, the column holds %s:\n%s", name, got[name], want, m.View())
		}
	}
}

// However narrow the screen, every ticket's order number is whole: the
// customer's name and the timer give way first.
func TestNarrowTicketsKeepTheOrderNumber(t *testing.T) {
	for _, w := range []int{40, 50, 60, 80} {
		u := newUnit(t)
		u.clock.Set(t0.Add(50 * time.Minute)) // every timer long and late: "53:00 !!"
		drive(u.m, tea.WindowSizeMsg{Width: w, Height: 40})
		v := ansi.Strip(u.m.View())
		for _, num := range []string{"NG-001", "BK-001", "NG-002"} {
			if !strings.Contains(v, num) {
				t.Errorf("width %d: %s cut:\n%s", w, num, v)
			}
		}
		got := titles(u.m.View())
		if len(got) != 3 {
			t.Errorf("width %d: column counts cut: %v\n%s", w, got, v)
		}
	}
}
