// Package edge guards posd's public edge: which address a request really
// comes from (behind trusted proxies), and how much of the server one
// address may hold before it has logged in — connections, request bodies
// in flight, pre-login sessions. Every limit is per address, so an attacker
// on one address never locks out a client on another.
package edge

import (
	"net"
	"net/netip"
)

// AddrKey is the unit every per-address limit counts against: the host
// without its port (a new connection has a new port, which must not buy a
// fresh allowance), and for IPv6 the /64 a single client usually holds.
// remote may be "host:port" or a bare host; what does not parse as an IP
// address is its own key.
func AddrKey(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
