package domain

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCheckText(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		required bool
		ok       bool
		mention  string // a word the refusal must contain
	}{
		{"plain", "Siti", true, true, ""},
		{"indonesian with accents and emoji", "Nasi Goreng Spésial 🍛", true, true, ""},
		{"emoji family with zero-width joiners", "👨\u200d👩\u200d👧", true, true, ""},
		{"flag (regional indicators)", "🇮🇩", true, true, ""},
		{"variation selector after a letter", "☕\ufe0f", true, true, ""},
		{"zero-width space inside a name", "Bu\u200bdi", true, true, ""},
		{"arabic script", "مرحبا", true, true, ""},
		{"combining accent on a letter", "e\u0301", true, true, ""},
		{"optional and empty", "", false, true, ""},
		{"empty", "", true, false, "required"},
		{"spaces only", "   ", true, false, "required"},
		{"ideographic spaces only", "\u3000\u3000", true, false, "required"},
		{"no-break spaces only", "\u00a0\u00a0", true, false, "required"},
		{"zero-width space only", "\u200b", true, false, "visible"},
		{"zero-width joiners and non-joiners", "\u200d\u200c\u200d", true, false, "visible"},
		{"word joiner and BOM", "\u2060\ufeff", true, false, "visible"},
		{"soft hyphens", "\u00ad\u00ad", true, false, "visible"},
		{"hangul fillers", "\u3164\u115f\uffa0", true, false, "visible"},
		{"braille blank", "\u2800\u2800", true, false, "visible"},
		{"variation selectors only", "\ufe0f\ufe0e", true, false, "visible"},
		{"combining marks only", "\u0301\u0302", true, false, "visible"},
		{"tag characters only", "\U000e0041\U000e0042", true, false, "visible"},
		{"invisible optional text", "\u200b", false, false, "visible"},
		{"invisible around spaces", " \u200b ", true, false, "visible"},
		{"line separator", "Siti\u2028Budi", true, false, "U+2028"},
		{"paragraph separator", "Siti\u2029", true, false, "U+2029"},
		{"newline", "a\nb", true, false, "U+000A"},
		{"replacement character (a decoded lone surrogate)", "Siti\ufffd", true, false, "U+FFFD"},
		{"invalid utf8", "Siti\xed\xa0\x80", true, false, "UTF-8"},
		{"bidi override", "a\u202eb", true, false, "U+202E"},
		{"too long", strings.Repeat("a", 31), true, false, "at most 30"},
		{"long but counted in characters", strings.Repeat("é", 30), true, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckText("customer_name", tc.in, 30, tc.required)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("err %v, want invalid", err)
			}
			msg := ErrorMessage(err)
			if !strings.HasPrefix(msg, "customer_name ") || !strings.Contains(msg, tc.mention) {
				t.Fatalf("message %q should name the field and say %q", msg, tc.mention)
			}
		})
	}
}

func TestLimitsPriceItems(t *testing.T) {
	l := Limits{}.WithDefaults()
	item := func(q, p int64) Item { return Item{Name: "Nasi", Quantity: q, UnitPrice: p} }
	tests := []struct {
		name  string
		items []Item
		total int64
		field string // named in the refusal; "" when accepted
	}{
		{"a lunch", []Item{item(2, 25000), item(1, 5000)}, 55000, ""},
		{"catering at the caps", []Item{item(DefaultMaxQuantity, DefaultMaxOrderTotal/DefaultMaxQuantity)}, DefaultMaxOrderTotal, ""},
		{"dearest dish allowed", []Item{item(1, DefaultMaxUnitPrice)}, DefaultMaxUnitPrice, ""},
		{"max int64 unit price", []Item{item(1, math.MaxInt64)}, 0, "items[0].unit_price"},
		{"unit price one over", []Item{item(1, DefaultMaxUnitPrice+1)}, 0, "items[0].unit_price"},
		{"quantity one over", []Item{item(1, 1), item(DefaultMaxQuantity+1, 1)}, 0, "items[1].quantity"},
		{"overflowing product is a cap, not a wrap", []Item{item(2, math.MaxInt64/2+1)}, 0, "items[0].unit_price"},
		{"total one over", []Item{item(DefaultMaxQuantity, DefaultMaxOrderTotal/DefaultMaxQuantity), item(1, 1)}, 0, "order total"},
		{"text still checked", []Item{{Name: "\u200b", Quantity: 1}}, 0, "items[0].name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total, err := l.PriceItems(tc.items)
			if tc.field != "" {
				if ErrorCode(err) != CodeInvalid || !strings.Contains(ErrorMessage(err), tc.field) {
					t.Fatalf("err %v, want invalid naming %s", err, tc.field)
				}
				return
			}
			if err != nil || total != tc.total {
				t.Fatalf("total %d err %v, want %d", total, err, tc.total)
			}
		})
	}
	if err := l.CheckPayment(DefaultMaxPayment); err != nil {
		t.Errorf("payment at the cap refused: %v", err)
	}
	if err := l.CheckPayment(math.MaxInt64); ErrorCode(err) != CodeInvalid || !strings.Contains(ErrorMessage(err), "amount_paid") {
		t.Errorf("payment of max int64: %v", err)
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := (Limits{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for name, l := range map[string]Limits{
		"zero":                      {},
		"negative quantity":         {MaxUnitPrice: 1, MaxQuantity: -1, MaxOrderTotal: 1, MaxPayment: 1},
		"payment below order total": {MaxUnitPrice: 1, MaxQuantity: 1, MaxOrderTotal: 100, MaxPayment: 99},
	} {
		if err := l.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAddAmount(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{
		{1, 2, 3},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MinInt64, -1, math.MinInt64},
		{math.MaxInt64, -1, math.MaxInt64 - 1},
		{-5, 3, -2},
	} {
		if got := AddAmount(tc.a, tc.b); got != tc.want {
			t.Errorf("AddAmount(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPublicOrder(t *testing.T) {
	now := time.Date(2025, 2, 3, 10, 0, 0, 0, time.UTC)
	o := &Order{
		ID: 1, TenantID: 2, OrderNumber: "T1-001", CustomerName: "Siti", Status: StatusReady,
		TotalAmount: 50000, PaidAmount: 50000, CreatedAt: now, UpdatedAt: now,
		Items:    []Item{{ID: 9, Name: "Nasi", Quantity: 2, UnitPrice: 25000, Notes: "pedas", Subtotal: 50000}},
		Payments: []Payment{{ID: 3, Kind: KindPayment, Reference: "PAY-1-ABCDEF", Reason: "secret reason"}},
		QR:       &QRCode{ID: 4, Token: "qrtokenqrtokenqrtoken1", Status: QRActive},
	}
	raw, err := json.Marshal(o.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"qrtokenqrtokenqrtoken1", "PAY-1-ABCDEF", "secret reason", `"qr"`, `"payments"`} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("public view holds %s: %s", secret, raw)
		}
	}
	// What the kitchen display and the board read comes through whole.
	var back Order
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.OrderNumber != "T1-001" || back.CustomerName != "Siti" || back.Status != StatusReady ||
		back.TotalAmount != 50000 || !back.Paid() || !back.CreatedAt.Equal(now) ||
		len(back.Items) != 1 || back.Items[0].Notes != "pedas" || back.Items[0].Quantity != 2 {
		t.Errorf("public view lost what a screen shows: %+v", back)
	}
	if m := MaskQRToken("qrtokenqrtokenqrtoken1"); m != "…ken1" {
		t.Errorf("mask = %q", m)
	}
}
