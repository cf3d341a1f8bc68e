package auth

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Authenticator resolves the bearer token of a request or connection.
// Errors are *domain.Error: unauthorized for a missing, unknown, expired or
// revoked token; rate_limited (with the wait in the message) after too many
// failures from remoteAddr.
type Authenticator interface {
	Authenticate(ctx context.Context, token, remoteAddr string) (Principal, error)
}

// Rechecker is implemented by authenticators whose tokens can be revoked.
// A transport calls it once more after it has registered a connection with
// the hub: a revocation that lands between Authenticate and the
// registration would otherwise miss that connection (the server closes
// revoked tokens' connections by scanning the hub).
type Rechecker interface {
	Recheck(ctx context.Context, p Principal) error
}

// Recheck runs a's Recheck when it has one (nil otherwise).
func Recheck(ctx context.Context, a Authenticator, p Principal) error {
	if rc, ok := a.(Rechecker); ok {
		return rc.Recheck(ctx, p)
	}
	return nil
}

// Open is the Authenticator of --auth=off: everyone is an admin.
type Open struct{}

func (Open) Authenticate(context.Context, string, string) (Principal, error) { return Anonymous, nil }

// OriginPolicy decides which browser origins may call the API and open
// sockets. A request without an Origin header (not a browser) is allowed,
// and so is a page the server itself served (the pickup board at /board):
// its Origin names the host the request was sent to.
type OriginPolicy struct {
	allowed map[string]struct{}
	// guard: same-origin counts only for a Host that is an IP address or
	// localhost (see GuardRebinding).
	guard bool
}

// NewOriginPolicy allows exactly the given origins ("scheme://host[:port]",
// compared case-insensitively, without a trailing slash). "*" is ignored:
// a wildcard is never combined with credentials; so is "null", the origin
// of every sandboxed frame and local file, whoever wrote it.
func NewOriginPolicy(origins []string) *OriginPolicy {
	p := &OriginPolicy{allowed: make(map[string]struct{}, len(origins))}
	for _, o := range origins {
		o = normOrigin(o)
		if o != "" && o != "*" && o != "null" {
			p.allowed[o] = struct{}{}
		}
	}
	return p
}

func normOrigin(o string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
}

// GuardRebinding makes same-origin requests count only when the request
// names the server by IP address or as localhost. With --auth=off nothing
// but the origin check stands between a web page and the API, and DNS
// rebinding lets any page become "same-origin" with a host name it
// controls; listed origins are unaffected.
func (p *OriginPolicy) GuardRebinding(on bool) { p.guard = on }

// Allow reports whether origin is absent or listed. Prefer AllowRequest,
// which also admits the server's own pages.
func (p *OriginPolicy) Allow(origin string) bool {
	return origin == "" || p.Listed(origin)
}

// Listed reports whether origin is on the allow-list (for CORS headers,
// which are only sent to listed origins).
func (p *OriginPolicy) Listed(origin string) bool {
	if origin == "" {
		return false
	}
	_, ok := p.allowed[normOrigin(origin)]
	return ok
}

// AllowRequest reports whether r may proceed: it has no Origin header, its
// Origin is listed, or its Origin is the server itself (same host as the
// request's Host header, as a browser sends for pages the server served).
func (p *OriginPolicy) AllowRequest(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if p.Allow(origin) {
		return true
	}
	return SameOrigin(origin, r.Host) && (!p.guard || literalHost(r.Host))
}

// literalHost reports whether host[:port] is an IP address or localhost.
func literalHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}

// SameOrigin reports whether origin names host (the request's Host header).
func SameOrigin(origin, host string) bool {
	if origin == "" || host == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.User != nil {
		return false
	}
	return strings.EqualFold(u.Host, host)
}
