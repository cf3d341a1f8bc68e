package bench

import (
	"testing"
)

func TestLayout(t *testing.T) {
	l := NewLayout(2000, 10, 0.05)
	if got, want := l.DisplayClients(), 100; got != want {
		t.Fatalf("display clients = %d, want %d", got, want)
	}
	perTenant := make([]int, 10)
	displayPerTenant := make([]int, 10)
	for i := 0; i < l.Clients; i++ {
		perTenant[l.Tenant(i)]++
		if l.InDisplay(i) {
			displayPerTenant[l.Tenant(i)]++
		}
	}
	for ti := range perTenant {
		if perTenant[ti] != 200 {
			t.Errorf("tenant %d has %d clients, want 200", ti, perTenant[ti])
		}
		if displayPerTenant[ti] != 10 {
			t.Errorf("tenant %d has %d display clients, want 10 (spread evenly)", ti, displayPerTenant[ti])
		}
	}
	// Expected deliveries per order: 200 in the tenant + 90 display clients of other tenants.
	led := NewLedger(l, nil)
	for ti := 0; ti < 10; ti++ {
		if got := led.ExpectedPerOrder(ti); got != 290 {
			t.Errorf("expected per order of tenant %d = %d, want 290", ti, got)
		}
	}
	if got := NewLayout(10, 3, 0).DisplayClients(); got != 0 {
		t.Errorf("share 0: %d display clients", got)
	}
	if got := NewLayout(10, 3, 1).DisplayClients(); got != 10 {
		t.Errorf("share 1: %d display clients", got)
	}
}

// The ledger's accounting: a tiny layout where every client is known.
//
//	clients 0,2 → tenant 0; 1,3 → tenant 1; display share 0.25 → one client also in display.
func TestLedgerAccounting(t *testing.T) {
	l := NewLayout(4, 2, 0.25)
	disp := -1
	for i := 0; i < 4; i++ {
		if l.InDisplay(i) {
			disp = i
		}
	}
	if disp < 0 {
		t.Fatal("no display client")
	}
	led := NewLedger(l, nil)
	// Order 10 for tenant 0: expected clients 0, 2 and the display client (once even if it is in tenant 0).
	want0 := 2
	if l.Tenant(disp) != 0 {
		want0 = 3
	}
	if got := led.ExpectedPerOrder(0); got != want0 {
		t.Fatalf("expected per order = %d, want %d", got, want0)
	}
	// A delivery that arrives before the order's HTTP response is kept pending.
	led.AddDelivery(delivery{order: 10, at: 3_000_000, client: 0})
	if got := led.PendingDeliveries(); got != 1 {
		t.Fatalf("pending = %d, want 1", got)
	}
	led.AddOrder(10, 0, 1_000_000)
	if got := led.PendingDeliveries(); got != 0 {
		t.Fatalf("pending after order = %d, want 0", got)
	}
	led.AddDelivery(delivery{order: 10, at: 4_000_000, client: 0}) // duplicate
	led.AddDelivery(delivery{order: 10, at: 4_000_000, client: 1}) // client 1 is tenant 1: misrouted unless in display
	misroutedWant := int64(1)
	if l.InDisplay(1) {
		misroutedWant = 0
	}
	led.AddDelivery(delivery{order: 99, at: 4_000_000, client: 2}) // an order this run did not create
	led.AddOrder(11, 1, 1_000_000)                                 // nobody receives it: all missing
	st := led.Close()

	if st.Orders != 2 {
		t.Errorf("orders = %d, want 2", st.Orders)
	}
	if st.Duplicated != 1 {
		t.Errorf("duplicated = %d, want 1", st.Duplicated)
	}
	if st.Misrouted != misroutedWant {
		t.Errorf("misrouted = %d, want %d", st.Misrouted, misroutedWant)
	}
	if st.Unmatched != 1 {
		t.Errorf("unmatched = %d, want 1", st.Unmatched)
	}
	if st.Matched != 1+(1-misroutedWant) {
		t.Errorf("matched = %d", st.Matched)
	}
	exp := int64(led.ExpectedPerOrder(0) + led.ExpectedPerOrder(1))
	if st.Expected != exp || st.Missing != exp-st.Matched {
		t.Errorf("expected %d missing %d, want %d and %d", st.Expected, st.Missing, exp, exp-st.Matched)
	}
	if st.Received != st.Matched+st.Duplicated+st.Misrouted {
		t.Errorf("received %d ≠ matched+duplicated+misrouted", st.Received)
	}
	if h := led.Latency(); h.TotalCount() != st.Matched || h.Min() < 2000 || h.Min() > 2010 {
		t.Errorf("latency histogram: %d samples, min %d µs; want %d samples, min 2000 µs", h.TotalCount(), h.Min(), st.Matched)
	}
}

// Once every expected client has an order, its bitset is released and any
// further delivery to a subscribed client still counts as a duplicate.
func TestLedgerCompleteThenDuplicate(t *testing.T) {
	l := NewLayout(6, 2, 0)
	led := NewLedger(l, nil)
	led.AddOrder(1, 0, 0)
	for _, c := range []int32{0, 2, 4} {
		led.AddDelivery(delivery{order: 1, at: 1000, client: c})
	}
	if !led.AllComplete() {
		t.Fatal("order not complete after every tenant-0 client received it")
	}
	led.AddDelivery(delivery{order: 1, at: 1000, client: 2})
	led.AddDelivery(delivery{order: 1, at: 1000, client: 3})
	st := led.Close()
	if st.Matched != 3 || st.Duplicated != 1 || st.Misrouted != 1 || st.Missing != 0 {
		t.Errorf("got %+v", st)
	}
}

// Clients that never connected are not expected to receive anything.
func TestLedgerLiveClients(t *testing.T) {
	l := NewLayout(4, 1, 0)
	led := NewLedger(l, []bool{true, false, true, false})
	if got := led.ExpectedPerOrder(0); got != 2 {
		t.Fatalf("expected per order = %d, want 2", got)
	}
	led.AddOrder(5, 0, 0)
	led.AddDelivery(delivery{order: 5, at: 10, client: 0})
	st := led.Close()
	if st.Missing != 1 {
		t.Errorf("missing = %d, want 1", st.Missing)
	}
}

func TestSink(t *testing.T) {
	var s sink[int]
	s.put(1)
	s.put(2)
	got := s.swap(nil)
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("swap = %v", got)
	}
	s.put(3)
	again := s.swap(got)
	if len(again) != 1 || again[0] != 3 {
		t.Fatalf("second swap = %v", again)
	}
}

func TestOrderBody(t *testing.T) {
	got := string(orderBody(nil, 12, 7))
	want := `{"tenant_id":12,"customer_name":"bench 7","items":[{"name":"Nasi Goreng","quantity":1,"unit_price":15000}]}`
	if got != want {
		t.Errorf("orderBody = %s, want %s", got, want)
	}
}
