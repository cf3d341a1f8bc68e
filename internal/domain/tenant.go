package domain

import (
	"regexp"
	"time"
)

// Tenant is a stall of the food court.
type Tenant struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Code      string    `json:"code"`
	CreatedAt time.Time `json:"created_at"`
}

// Counter is a kasir counter.
type Counter struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

var tenantCode = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,7}$`)

// CheckTenantCode requires a short upper-case code such as T1 or NASI:
// it prefixes every order number of the stall.
func CheckTenantCode(code string) error {
	if !tenantCode.MatchString(code) {
		return Errorf(CodeInvalid, "code %q must be 1–8 upper-case letters or digits, starting with a letter (e.g. T1)", truncate(code, 32))
	}
	return nil
}
