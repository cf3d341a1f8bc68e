package domain

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTransitions(t *testing.T) {
	all := []Status{StatusPending, StatusPreparing, StatusReady, StatusCompleted, StatusCancelled}
	legal := map[[2]Status]bool{
		{StatusPending, StatusPreparing}: true,
		{StatusPreparing, StatusReady}:   true,
		{StatusReady, StatusCompleted}:   true,
	}
	for _, from := range all {
		for _, to := range all {
			err := CheckTransition(from, to)
			if legal[[2]Status{from, to}] {
				if err != nil {
					t.Errorf("%s → %s: %v, want allowed", from, to, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s → %s allowed, want refused", from, to)
				continue
			}
			want := CodeConflict
			if to == StatusCancelled {
				want = CodeInvalid // cancelling has its own route
			}
			if got := ErrorCode(err); got != want {
				t.Errorf("%s → %s: code %s, want %s", from, to, got, want)
			}
		}
	}
}

func TestCancel(t *testing.T) {
	for _, tc := range []struct {
		from Status
		ok   bool
	}{
		{StatusPending, true}, {StatusPreparing, true}, {StatusReady, true},
		{StatusCompleted, false}, {StatusCancelled, false},
	} {
		err := CheckCancel(tc.from)
		if (err == nil) != tc.ok {
			t.Errorf("cancel from %s: err %v, want ok=%v", tc.from, err, tc.ok)
		}
		if err != nil && ErrorCode(err) != CodeConflict {
			t.Errorf("cancel from %s: code %s, want conflict", tc.from, ErrorCode(err))
		}
	}
}

func TestTransitionText(t *testing.T) {
	if got := Transition(StatusPending, StatusPreparing); got != "pending → preparing" {
		t.Fatalf("got %q", got)
	}
}

func TestPriceItems(t *testing.T) {
	item := func(q, p int64) Item { return Item{Name: "Nasi", Quantity: q, UnitPrice: p} }
	tests := []struct {
		name  string
		items []Item
		total int64
		code  Code
	}{
		{"one", []Item{item(2, 25000)}, 50000, ""},
		{"several", []Item{item(2, 25000), item(1, 5000), item(3, 0)}, 55000, ""},
		{"free", []Item{item(1, 0)}, 0, ""},
		{"max int64 exactly", []Item{item(1, math.MaxInt64)}, math.MaxInt64, ""},
		{"empty", nil, 0, CodeInvalid},
		{"zero quantity", []Item{item(0, 100)}, 0, CodeInvalid},
		{"negative quantity", []Item{item(-1, 100)}, 0, CodeInvalid},
		{"negative price", []Item{item(1, -1)}, 0, CodeInvalid},
		{"product overflow", []Item{item(2, math.MaxInt64/2+1)}, 0, CodeInvalid},
		{"sum overflow", []Item{item(1, math.MaxInt64), item(1, 1)}, 0, CodeInvalid},
		{"no name", []Item{{Quantity: 1, UnitPrice: 1}}, 0, CodeInvalid},
		{"bad utf8 name", []Item{{Name: "\xff", Quantity: 1}}, 0, CodeInvalid},
		{"nul in notes", []Item{{Name: "a", Quantity: 1, Notes: "x\x00"}}, 0, CodeInvalid},
		{"terminal escape in name", []Item{{Name: "\x1b[2J\x1b]0;pwned\x07", Quantity: 1}}, 0, CodeInvalid},
		{"C1 control", []Item{{Name: "a\u009b", Quantity: 1}}, 0, CodeInvalid},
		{"bidi override", []Item{{Name: "a\u202eb", Quantity: 1}}, 0, CodeInvalid},
		{"emoji and quotes are fine", []Item{{Name: `Es "Teh" 🍵 <b>`, Quantity: 1}}, 0, ""},
		{"too many items", make([]Item, MaxItems+1), 0, CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total, err := PriceItems(tc.items)
			if tc.code != "" {
				if ErrorCode(err) != tc.code {
					t.Fatalf("err %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if total != tc.total {
				t.Fatalf("total %d, want %d", total, tc.total)
			}
			var sum int64
			for _, it := range tc.items {
				if it.Subtotal != it.Quantity*it.UnitPrice {
					t.Fatalf("subtotal %d for %d × %d", it.Subtotal, it.Quantity, it.UnitPrice)
				}
				sum += it.Subtotal
			}
			if sum != total {
				t.Fatalf("subtotals add to %d, total %d", sum, total)
			}
		})
	}
}

func TestSettlePayment(t *testing.T) {
	tests := []struct {
		method          Method
		total, paid     int64
		charged, change int64
		code            Code
	}{
		{MethodCash, 50000, 50000, 50000, 0, ""},
		{MethodCash, 50000, 100000, 50000, 50000, ""},
		{MethodCash, 50000, 49999, 0, 0, CodeUnprocessable},
		{MethodQRIS, 50000, 50000, 50000, 0, ""},
		{MethodQRIS, 50000, 50001, 0, 0, CodeUnprocessable},
		{MethodCard, 50000, 40000, 0, 0, CodeUnprocessable},
		{MethodEWallet, 0, 0, 0, 0, ""},
		{MethodCash, 50000, -1, 0, 0, CodeInvalid},
		{MethodCash, 0, math.MaxInt64, 0, math.MaxInt64, ""},
	}
	for _, tc := range tests {
		charged, change, err := SettlePayment(tc.method, tc.total, tc.paid)
		if tc.code != "" {
			if ErrorCode(err) != tc.code {
				t.Errorf("%s %d/%d: err %v, want %s", tc.method, tc.paid, tc.total, err, tc.code)
			}
			continue
		}
		if err != nil || charged != tc.charged || change != tc.change {
			t.Errorf("%s %d/%d: charged %d change %d err %v; want %d %d", tc.method, tc.paid, tc.total, charged, change, err, tc.charged, tc.change)
		}
	}
	if _, err := ParseMethod("bitcoin"); ErrorCode(err) != CodeInvalid {
		t.Errorf("unknown method accepted: %v", err)
	}
}

func TestCheckRefund(t *testing.T) {
	p := &Payment{ID: 1, Kind: KindPayment, Amount: 50000, Refunded: 20000}
	tests := []struct {
		amount, want int64
		code         Code
	}{
		{0, 30000, ""},
		{10000, 10000, ""},
		{30000, 30000, ""},
		{30001, 0, CodeUnprocessable},
		{-5, 0, CodeInvalid},
	}
	for _, tc := range tests {
		got, err := CheckRefund(p, tc.amount)
		if tc.code != "" {
			if ErrorCode(err) != tc.code {
				t.Errorf("refund %d: err %v, want %s", tc.amount, err, tc.code)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("refund %d: %d %v, want %d", tc.amount, got, err, tc.want)
		}
	}
	full := &Payment{ID: 2, Kind: KindPayment, Amount: 100, Refunded: 100}
	if _, err := CheckRefund(full, 0); ErrorCode(err) != CodeConflict {
		t.Errorf("fully refunded: %v", err)
	}
	ref := &Payment{ID: 3, Kind: KindRefund, Amount: 100}
	if _, err := CheckRefund(ref, 0); ErrorCode(err) != CodeConflict {
		t.Errorf("refund of a refund: %v", err)
	}
}

func TestReferences(t *testing.T) {
	now := time.UnixMilli(1706966400000)
	pay := regexp.MustCompile(`^PAY-1706966400000-[A-Z0-9]{6}$`)
	if r := NewReference(now); !pay.MatchString(r) {
		t.Errorf("payment reference %q", r)
	}
	if r := RefundReference(now); !strings.HasPrefix(r, "REFUND-") || !pay.MatchString(strings.TrimPrefix(r, "REFUND-")) {
		t.Errorf("refund reference %q", r)
	}
}

func TestQRToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := NewQRToken()
		if len(tok) != 22 || strings.ContainsAny(tok, "+/=") {
			t.Fatalf("token %q is not 128 bits of URL-safe base64", tok)
		}
		if seen[tok] {
			t.Fatalf("token repeated: %q", tok)
		}
		seen[tok] = true
	}
	if err := CheckScan(StatusCancelled); ErrorCode(err) != CodeConflict {
		t.Errorf("scan of cancelled order: %v", err)
	}
	if err := CheckScan(StatusReady); err != nil {
		t.Errorf("scan of ready order: %v", err)
	}
}

func TestRooms(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		ok      bool
	}{
		{"display", "display", true},
		{"tenant-1", "tenant-1", true},
		{"kasir-42", "kasir-42", true},
		{"user-7", "user-7", true},
		{"tenant-01", "", false},
		{"tenant-0", "", false},
		{"tenant--1", "", false},
		{"tenant-", "", false},
		{"tenant-1x", "", false},
		{"tenant-+1", "", false},
		{"tenant- 1", "", false},
		{"Display", "", false},
		{"admin-1", "", false},
		{"tenant-99999999999999999", "", false},
		{"", "", false},
	} {
		r, err := ParseRoom(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && r.String() != tc.out {
			t.Errorf("%q → %q, want %q", tc.in, r.String(), tc.out)
		}
	}
}

func TestEnvelope(t *testing.T) {
	ts := time.Date(2025, 2, 3, 17, 0, 0, 123456789, time.FixedZone("WIB", 7*3600))
	ev := NewEvent(EventOrderCreated, "order_created", ts, OrderCreatedData{
		OrderID: 1, OrderNumber: "T1-001", CustomerName: `John "JD" Doe <b>`, TotalAmount: 50000, ItemsCount: 3, Status: StatusPending,
	}, OrderRooms(1)...)
	ev.ID = 1042
	var got map[string]any
	if err := json.Unmarshal(ev.Envelope(), &got); err != nil {
		t.Fatalf("envelope is not JSON: %v: %s", err, ev.Envelope())
	}
	if got["id"] != float64(1042) || got["type"] != "order_created" || got["timestamp"] != "2025-02-03T10:00:00Z" {
		t.Fatalf("envelope %s", ev.Envelope())
	}
	data := got["data"].(map[string]any)
	wantKeys := []string{"order_id", "order_number", "customer_name", "total_amount", "items_count", "status"}
	if len(data) != len(wantKeys) {
		t.Fatalf("data has %d fields, want %d: %v", len(data), len(wantKeys), data)
	}
	for _, k := range wantKeys {
		if _, ok := data[k]; !ok {
			t.Errorf("data lacks %s", k)
		}
	}
	if data["customer_name"] != `John "JD" Doe <b>` {
		t.Errorf("customer_name not verbatim: %v", data["customer_name"])
	}

	alert := Event{ID: 7, Name: EventAlert, Type: TypeSystemAlert, Timestamp: ts, Severity: "warning", Message: "Maintenance \"now\"\n"}
	var a map[string]any
	if err := json.Unmarshal(alert.Envelope(), &a); err != nil {
		t.Fatalf("alert envelope: %v: %s", err, alert.Envelope())
	}
	if _, has := a["data"]; has || a["severity"] != "warning" || a["message"] != "Maintenance \"now\"\n" || a["type"] != "system_alert" {
		t.Fatalf("alert envelope %s", alert.Envelope())
	}
}

func TestTenantCode(t *testing.T) {
	for code, ok := range map[string]bool{"T1": true, "NASI": true, "A": true, "t1": false, "1T": false, "": false, "TOOLONGCODE": false, "T-1": false} {
		if err := CheckTenantCode(code); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", code, err, ok)
		}
	}
	if got := OrderNumber("T1", 1); got != "T1-001" {
		t.Errorf("OrderNumber = %q", got)
	}
	if got := OrderNumber("T1", 1234); got != "T1-1234" {
		t.Errorf("OrderNumber = %q", got)
	}
}

func TestRupiah(t *testing.T) {
	for n, want := range map[int64]string{
		0: "Rp 0", 500: "Rp 500", 1500: "Rp 1.500", 5000: "Rp 5.000", 50000: "Rp 50.000",
		1234567: "Rp 1.234.567", -1500: "-Rp 1.500", -10000: "-Rp 10.000",
		math.MinInt64: "-Rp 9.223.372.036.854.775.808",
	} {
		if got := Rupiah(n); got != want {
			t.Errorf("Rupiah(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestValidSeverity(t *testing.T) {
	for s, want := range map[string]bool{"error": true, "warning": true, "info": true, "": false, "INFO": false, "debug": false} {
		if got := ValidSeverity(s); got != want {
			t.Errorf("ValidSeverity(%q) = %v, want %v", s, got, want)
		}
	}
}
