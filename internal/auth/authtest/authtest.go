// Package authtest holds the role tables that every transport's tests share:
// the token holders of a food court with two of everything, the rooms they
// might ask for, and which joins must succeed. The expectations are written
// out by hand, not computed from auth, so that a test using them checks the
// code against the contract (docs/security.md, Roles), not against itself.
//
// Every holder's own scope is "side 1": tenant 1, counter 1, user 1. Side 2
// is someone else's.
package authtest

import (
	"testing"

	"github.com/posd/posd/internal/auth"
)

// Identity is a token holder: a short name and the token it is issued.
type Identity struct {
	Name string
	Spec auth.TokenSpec
}

// The identities, by name.
const (
	Admin         = "admin"
	Tenant        = "tenant"         // tenant 1
	Kasir         = "kasir"          // counter 1
	Display       = "display"        // the display room
	DisplayTenant = "display-tenant" // tenant 1's kitchen display, no display room
	User          = "user"           // user 1
)

// Identities lists one token holder per role and scope shape.
func Identities() []Identity {
	return []Identity{
		{Admin, auth.TokenSpec{Role: auth.RoleAdmin, Label: "test admin"}},
		{Tenant, auth.TokenSpec{Role: auth.RoleTenant, TenantID: 1, Label: "stall 1"}},
		{Kasir, auth.TokenSpec{Role: auth.RoleKasir, CounterID: 1, Label: "counter 1"}},
		{Display, auth.TokenSpec{Role: auth.RoleDisplay, Display: true, Label: "pickup screen"}},
		{DisplayTenant, auth.TokenSpec{Role: auth.RoleDisplay, TenantID: 1, Label: "kitchen display 1"}},
		{User, auth.TokenSpec{Role: auth.RoleUser, UserID: 1, Label: "customer 1"}},
	}
}

// Rooms lists every kind of room on both sides.
func Rooms() []string {
	return []string{"display", "tenant-1", "tenant-2", "kasir-1", "kasir-2", "user-1", "user-2"}
}

// joinable is the contract: the rooms each identity may join.
var joinable = map[string][]string{
	Admin:         {"display", "tenant-1", "tenant-2", "kasir-1", "kasir-2", "user-1", "user-2"},
	Tenant:        {"tenant-1"},
	Kasir:         {"display", "kasir-1"}, // the central cashier follows every stall's queue
	Display:       {"display"},
	DisplayTenant: {"tenant-1"},
	User:          {"user-1"},
}

// OwnRoom is a room the identity may join that receives events only it (of
// the non-admin identities) should see, for checking that a connection still
// works after a refusal.
func OwnRoom(identity string) string {
	switch identity {
	case Admin:
		return "tenant-2"
	case Tenant, DisplayTenant:
		return "tenant-1"
	case Kasir:
		return "kasir-1"
	case Display:
		return "display"
	case User:
		return "user-1"
	}
	return ""
}

// JoinCase is one identity asking for one room.
type JoinCase struct {
	Identity string
	Room     string
	Allowed  bool
}

// JoinCases is every identity × every room.
func JoinCases() []JoinCase {
	var out []JoinCase
	for _, id := range Identities() {
		ok := map[string]bool{}
		for _, r := range joinable[id.Name] {
			ok[r] = true
		}
		for _, r := range Rooms() {
			out = append(out, JoinCase{Identity: id.Name, Room: r, Allowed: ok[r]})
		}
	}
	return out
}

// Issue creates a token for every identity with create (which the caller
// binds to its server, e.g. POST /api/tokens with the admin token) and
// returns the tokens by identity name.
func Issue(tb testing.TB, create func(tb testing.TB, spec auth.TokenSpec) string) map[string]string {
	tb.Helper()
	out := make(map[string]string)
	for _, id := range Identities() {
		out[id.Name] = create(tb, id.Spec)
	}
	return out
}
