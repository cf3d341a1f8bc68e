package auth_test

import (
	"reflect"
	"testing"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/auth/authtest"
	"github.com/posd/posd/internal/domain"
)

func principals() map[string]auth.Principal {
	out := map[string]auth.Principal{}
	for i, id := range authtest.Identities() {
		s := id.Spec
		out[id.Name] = auth.Principal{TokenID: int64(i + 1), Role: s.Role, TenantID: s.TenantID, CounterID: s.CounterID, UserID: s.UserID, Display: s.Display}
	}
	return out
}

func TestCanJoinEveryRoleEveryRoom(t *testing.T) {
	ps := principals()
	for _, c := range authtest.JoinCases() {
		p := ps[c.Identity]
		r, err := domain.ParseRoom(c.Room)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.CanJoin(r); got != c.Allowed {
			t.Errorf("%s CanJoin(%s) = %v, want %v", c.Identity, c.Room, got, c.Allowed)
		}
		canon, err := auth.CheckJoin(p, c.Room)
		switch {
		case c.Allowed && (err != nil || canon != c.Room):
			t.Errorf("%s CheckJoin(%s) = %q, %v; want the room", c.Identity, c.Room, canon, err)
		case !c.Allowed && domain.ErrorCode(err) != domain.CodeForbidden:
			t.Errorf("%s CheckJoin(%s) err %v, want forbidden", c.Identity, c.Room, err)
		}
	}
}

// TestScopes spells out, for every identity, each scope check on its own
// side (1) and the other side (2).
func TestScopes(t *testing.T) {
	type two [2]bool // side 1, side 2
	tests := []struct {
		name                         string
		readTenant, writeOrder, scan two
		pay, readPayments            two
		refund, readAll              bool
		readAny, writeAny, scanAny   bool
		readAllPayments              bool
	}{
		{authtest.Admin, two{true, true}, two{true, true}, two{true, true}, two{true, true}, two{true, true}, true, true, true, true, true, true},
		{authtest.Tenant, two{true, false}, two{true, false}, two{true, false}, two{false, false}, two{false, false}, false, false, true, true, true, false},
		{authtest.Kasir, two{true, true}, two{false, false}, two{true, true}, two{true, false}, two{true, false}, true, true, true, false, true, true},
		{authtest.Display, two{true, true}, two{false, false}, two{false, false}, two{false, false}, two{false, false}, false, true, true, false, false, false},
		{authtest.DisplayTenant, two{true, false}, two{false, false}, two{false, false}, two{false, false}, two{false, false}, false, false, true, false, false, false},
		{authtest.User, two{false, false}, two{false, false}, two{false, false}, two{false, false}, two{false, false}, false, false, false, false, false, false},
	}
	ps := principals()
	if len(tests) != len(ps) {
		t.Fatalf("table covers %d identities, authtest has %d", len(tests), len(ps))
	}
	for _, tt := range tests {
		p := ps[tt.name]
		for side := int64(1); side <= 2; side++ {
			i := side - 1
			check := func(what string, got, want bool) {
				t.Helper()
				if got != want {
					t.Errorf("%s %s(%d) = %v, want %v", tt.name, what, side, got, want)
				}
			}
			check("CanReadTenant", p.CanReadTenant(side), tt.readTenant[i])
			check("CanWriteOrder", p.CanWriteOrder(side), tt.writeOrder[i])
			check("CanScan", p.CanScan(side), tt.scan[i])
			check("CanPay", p.CanPay(side), tt.pay[i])
			check("CanReadPayments", p.CanReadPayments(side), tt.readPayments[i])
		}
		check := func(what string, got, want bool) {
			t.Helper()
			if got != want {
				t.Errorf("%s %s = %v, want %v", tt.name, what, got, want)
			}
		}
		check("CanRefund", p.CanRefund(), tt.refund)
		check("CanReadAllTenants", p.CanReadAllTenants(), tt.readAll)
		check("CanReadAnyOrder", p.CanReadAnyOrder(), tt.readAny)
		check("CanWriteAnyOrder", p.CanWriteAnyOrder(), tt.writeAny)
		check("CanScanAny", p.CanScanAny(), tt.scanAny)
		check("CanReadPayments(0)", p.CanReadPayments(0), tt.readAllPayments)
		check("IsAdmin", p.IsAdmin(), tt.name == authtest.Admin)
	}
}

func TestUnknownRoleMayDoNothing(t *testing.T) {
	p := auth.Principal{Role: "root", TenantID: 1, CounterID: 1, UserID: 1, Display: true}
	for _, room := range authtest.Rooms() {
		r, _ := domain.ParseRoom(room)
		if p.CanJoin(r) {
			t.Errorf("unknown role joins %s", room)
		}
	}
	if p.CanReadTenant(1) || p.CanWriteOrder(1) || p.CanPay(1) || p.CanRefund() || p.CanScan(1) ||
		p.CanReadAllTenants() || p.CanReadPayments(1) || p.CanReadAnyOrder() || p.CanWriteAnyOrder() || p.CanScanAny() || p.IsAdmin() {
		t.Error("unknown role has a power")
	}
	if _, err := auth.ParseRole("root"); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("ParseRole(root) err %v", err)
	}
	if _, err := auth.ParseRole("Admin"); err == nil {
		t.Error("role names are exact")
	}
}

func TestCheckJoinRefusesOtherSpellings(t *testing.T) {
	admin := auth.Principal{Role: auth.RoleAdmin}
	for _, room := range []string{"", "*", "Tenant-1", "tenant-01", "tenant-0", "tenant--1", "tenant-1 ", " tenant-1",
		"tenant-1,tenant-2", "display-1", "displays", "kasir", "user-", "user-9007199254740992", "tenant-1\x00", "tenant-١"} {
		if canon, err := auth.CheckJoin(admin, room); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("CheckJoin(%q) = %q, %v; want invalid", room, canon, err)
		}
	}
	// Another stall's id spelled differently is still refused as invalid,
	// never joined under a second name.
	tenant := auth.Principal{Role: auth.RoleTenant, TenantID: 1}
	if _, err := auth.CheckJoin(tenant, "tenant-01"); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("tenant-01: %v", err)
	}
	// domain.ParseID accepts a leading "+" (reported to the domain owner);
	// the check is on the parsed id and the joined name is canonical, so
	// it grants nothing.
	if _, err := auth.CheckJoin(tenant, "tenant-+2"); err == nil {
		t.Error("tenant-+2 joined by tenant 1")
	}
	if canon, err := auth.CheckJoin(tenant, "tenant-+1"); err == nil && canon != "tenant-1" {
		t.Errorf("tenant-+1 joined as %q", canon)
	}
}

func TestDefaultRooms(t *testing.T) {
	ps := principals()
	want := map[string][]string{
		authtest.Admin:         nil,
		authtest.Tenant:        {"tenant-1"},
		authtest.Kasir:         {"kasir-1"},
		authtest.Display:       {"display"},
		authtest.DisplayTenant: {"tenant-1"},
		authtest.User:          {"user-1"},
	}
	for name, rooms := range want {
		if got := ps[name].DefaultRooms(); !reflect.DeepEqual(got, rooms) {
			t.Errorf("%s DefaultRooms = %v, want %v", name, got, rooms)
		}
	}
	both := auth.Principal{Role: auth.RoleDisplay, Display: true, TenantID: 3}
	if got := both.DefaultRooms(); !reflect.DeepEqual(got, []string{"display", "tenant-3"}) {
		t.Errorf("display+tenant DefaultRooms = %v", got)
	}
}

func TestOpenAuthenticatorIsAdmin(t *testing.T) {
	p, err := auth.Open{}.Authenticate(t.Context(), "", "1.2.3.4")
	if err != nil || !p.IsAdmin() || p.TokenID != 0 {
		t.Fatalf("Open = %+v, %v", p, err)
	}
}
