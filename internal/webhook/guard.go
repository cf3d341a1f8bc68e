package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"

	"github.com/posd/posd/internal/domain"
)

// Policy is where webhooks may go. The zero value is the default: https
// only, public addresses only.
type Policy struct {
	// AllowPrivate lets webhooks reach loopback, private, link-local and
	// other non-public addresses (a trusted LAN's systems).
	AllowPrivate bool
	// AllowHTTP lets webhooks use plain http.
	AllowHTTP bool
}

// MaxURLLen bounds an endpoint's URL.
const MaxURLLen = 2048

// ErrRefused marks a destination the policy refuses.
var ErrRefused = errors.New("destination refused")

// special are the ranges no public endpoint lives in, beside what netip's
// predicates name (loopback, private, link-local, multicast, unspecified).
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (and cloud metadata at 100.100.100.200)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("100::/64"),        // discard
}

// nat64 carries an IPv4 address in its last 32 bits: judged by that one.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Public reports whether ip is an address a webhook may reach without
// AllowPrivate.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// checkAddr is the dialer's Control: it sees the address actually being
// connected to, after name resolution, so a name that resolves to a
// private address at send time (DNS rebinding) is refused like a literal.
func (p Policy) checkAddr(_, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot judge address %q", ErrRefused, address)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address (serve --allow-private opens it)", ErrRefused, ap.Addr())
	}
	return nil
}

// CheckURL judges an endpoint's URL at registration: the scheme, and
// whatever addresses its host names now. Connect time judges again.
func (p Policy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	invalid := func(format string, args ...any) error {
		return domain.Errorf(domain.CodeInvalid, "url: "+format, args...)
	}
	if raw == "" || len(raw) > MaxURLLen {
		return nil, invalid("required, at most %d characters", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, invalid("not a URL")
	}
	if err := p.checkScheme(u); err != nil {
		return nil, domain.Errorf(domain.CodeInvalid, "url: %v", err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, invalid("no host")
	}
	if u.User != nil {
		return nil, invalid("credentials in the URL are not allowed (they would be shown in lists); use a secret path or the signature")
	}
	if u.Fragment != "" {
		return nil, invalid("no fragment")
	}
	if p.AllowPrivate {
		return u, nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !Public(ip) {
			return nil, invalid("%s is not a public address (serve --allow-private opens it)", ip)
		}
		return u, nil
	}
	// A name that does not resolve now may later; one that resolves to a
	// private address is refused now rather than at every send.
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err == nil {
		for _, ip := range ips {
			if !Public(ip) {
				return nil, invalid("%s resolves to %s, not a public address (serve --allow-private opens it)", host, ip)
			}
		}
	}
	return u, nil
}

func (p Policy) checkScheme(u *url.URL) error {
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if p.AllowHTTP {
			return nil
		}
		return fmt.Errorf("%w: http is not allowed, use https (serve --allow-http opens it)", ErrRefused)
	}
	return fmt.Errorf("%w: scheme must be https", ErrRefused)
}
