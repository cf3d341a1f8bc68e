package auth

import "context"

// Authenticator resolves the bearer token of a request or connection.
// Errors are *domain.Error: unauthorized for a missing, unknown, expired or
// revoked token; rate_limited (with the wait in the message) after too many
// failures from remoteAddr.
type Authenticator interface {
	Authenticate(ctx context.Context, token, remoteAddr string) (Principal, error)
}

// Open is the Authenticator of --auth=off: everyone is an admin.
type Open struct{}

func (Open) Authenticate(context.Context, string, string) (Principal, error) { return Anonymous, nil }

// OriginPolicy decides which browser origins may call the API and open
// sockets. A request without an Origin header (not a browser) is allowed.
type OriginPolicy struct {
	allowed map[string]struct{}
}

// NewOriginPolicy allows exactly the given origins ("scheme://host[:port]").
func NewOriginPolicy(origins []string) *OriginPolicy {
	p := &OriginPolicy{allowed: make(map[string]struct{}, len(origins))}
	for _, o := range origins {
		if o != "" {
			p.allowed[o] = struct{}{}
		}
	}
	return p
}

// Allow reports whether origin may connect.
func (p *OriginPolicy) Allow(origin string) bool {
	if origin == "" {
		return true
	}
	_, ok := p.allowed[origin]
	return ok
}

// Listed reports whether origin is on the allow-list (for CORS headers,
// which are only sent to listed origins).
func (p *OriginPolicy) Listed(origin string) bool {
	_, ok := p.allowed[origin]
	return ok && origin != ""
}
