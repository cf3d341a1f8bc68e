// Package auth holds tokens, roles and the scope checks every API route and
// every room join goes through.
package auth

import (
	"time"

	"github.com/posd/posd/internal/domain"
)

// Role is what a token may do.
type Role string

const (
	RoleAdmin   Role = "admin"
	RoleTenant  Role = "tenant"
	RoleKasir   Role = "kasir"
	RoleDisplay Role = "display"
	RoleUser    Role = "user"
)

// ParseRole accepts the five role names.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleTenant, RoleKasir, RoleDisplay, RoleUser:
		return r, nil
	}
	return "", domain.Errorf(domain.CodeInvalid, "unknown role %q (want admin, tenant, kasir, display or user)", s)
}

// Principal is who a request or connection acts as.
type Principal struct {
	TokenID   int64 // 0 when auth is off
	Role      Role
	TenantID  int64 // tenant; display (optional)
	CounterID int64 // kasir
	UserID    int64 // user
	Display   bool  // display: may join the display room
	// ExpiresAt is the token's expiry (zero: none); the server closes a
	// connection whose token expires while it is open.
	ExpiresAt time.Time
}

// Anonymous is the principal of every request when auth is off: all powers.
var Anonymous = Principal{Role: RoleAdmin}

func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// CanJoin reports whether p may join room.
func (p Principal) CanJoin(r domain.Room) bool {
	switch p.Role {
	case RoleAdmin:
		return true
	case RoleTenant:
		return r.Kind == domain.RoomKindTenant && r.ID == p.TenantID
	case RoleKasir:
		// The central cashier serves every stall: it follows the display room
		// for the queue of unpaid orders, and its own counter's payments.
		return (r.Kind == domain.RoomKindKasir && r.ID == p.CounterID) || r.Kind == domain.RoomKindDisplay
	case RoleDisplay:
		return (r.Kind == domain.RoomKindDisplay && p.Display) ||
			(r.Kind == domain.RoomKindTenant && p.TenantID != 0 && r.ID == p.TenantID)
	case RoleUser:
		return r.Kind == domain.RoomKindUser && r.ID == p.UserID
	}
	return false
}

// CanReadTenant reports whether p may read tenant's orders.
func (p Principal) CanReadTenant(tenantID int64) bool {
	switch p.Role {
	case RoleAdmin, RoleKasir:
		return true
	case RoleTenant:
		return tenantID == p.TenantID
	case RoleDisplay:
		return p.Display || tenantID == p.TenantID
	}
	return false
}

// CanReadAllTenants reports whether p may list orders without a tenant filter.
func (p Principal) CanReadAllTenants() bool {
	return p.Role == RoleAdmin || p.Role == RoleKasir || (p.Role == RoleDisplay && p.Display)
}

// CanReadAnyOrder reports whether p may read at least some orders. A route
// answers 403 up front to a principal that may read none, and 404 to one
// that asks for an order outside its scope (so ids cannot be probed).
func (p Principal) CanReadAnyOrder() bool {
	switch p.Role {
	case RoleAdmin, RoleKasir, RoleTenant:
		return true
	case RoleDisplay:
		return p.Display || p.TenantID != 0
	}
	return false
}

// SeesOrderSecrets reports whether p reads orders whole: QR token, payment
// records, refund reasons. Display and user tokens do not: their secrets sit
// in a TV's URL or on a shared screen, so they get domain.PublicOrder.
func (p Principal) SeesOrderSecrets() bool {
	return p.Role == RoleAdmin || p.Role == RoleTenant || p.Role == RoleKasir
}

// CanWriteAnyOrder reports whether p may change at least some orders
// (admin, tenant); display, kasir and user tokens get 403 without a lookup.
func (p Principal) CanWriteAnyOrder() bool { return p.Role == RoleAdmin || p.Role == RoleTenant }

// CanScanAny reports whether p may scan at least some QR codes.
func (p Principal) CanScanAny() bool {
	return p.Role == RoleAdmin || p.Role == RoleKasir || p.Role == RoleTenant
}

// CanWriteOrder reports whether p may create, advance or cancel tenant's orders.
func (p Principal) CanWriteOrder(tenantID int64) bool {
	return p.Role == RoleAdmin || (p.Role == RoleTenant && tenantID == p.TenantID)
}

// CanPay reports whether p may take a payment at counter.
func (p Principal) CanPay(counterID int64) bool {
	return p.Role == RoleAdmin || (p.Role == RoleKasir && counterID == p.CounterID)
}

// CanRefund reports whether p may refund payments (any counter's: refunds are
// often handled at whichever counter the customer returns to).
func (p Principal) CanRefund() bool { return p.Role == RoleAdmin || p.Role == RoleKasir }

// CanScan reports whether p may scan the QR code of tenant's order.
func (p Principal) CanScan(tenantID int64) bool {
	return p.Role == RoleAdmin || p.Role == RoleKasir || (p.Role == RoleTenant && tenantID == p.TenantID)
}

// CanReadPayments reports whether p may list payments of counter (0: all).
func (p Principal) CanReadPayments(counterID int64) bool {
	return p.Role == RoleAdmin || (p.Role == RoleKasir && (counterID == p.CounterID || counterID == 0))
}

// DefaultRooms lists the rooms a principal may join that name one id; used
// to default the rooms of a connection that asked for none.
func (p Principal) DefaultRooms() []string {
	switch p.Role {
	case RoleTenant:
		return []string{domain.TenantRoom(p.TenantID)}
	case RoleKasir:
		return []string{domain.KasirRoom(p.CounterID)}
	case RoleDisplay:
		var out []string
		if p.Display {
			out = append(out, domain.RoomDisplay)
		}
		if p.TenantID != 0 {
			out = append(out, domain.TenantRoom(p.TenantID))
		}
		return out
	case RoleUser:
		return []string{domain.UserRoom(p.UserID)}
	}
	return nil
}

// CheckJoin parses room and checks p may join it. Refusals are
// domain errors: invalid for a malformed name, forbidden for a foreign room.
func CheckJoin(p Principal, room string) (string, error) {
	r, err := domain.ParseRoom(room)
	if err != nil {
		return "", err
	}
	if !p.CanJoin(r) {
		return "", domain.Errorf(domain.CodeForbidden, "this token may not join %s", r)
	}
	return r.String(), nil
}
