package auth

import (
	"net"
	"net/http"
	"strings"
)

// BearerToken is the token of an `Authorization: Bearer` header, or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// SocketToken is the token of a socket handshake: `?token=` first (a
// browser cannot set headers on a WebSocket), else the bearer header.
func SocketToken(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	return BearerToken(r)
}

// RemoteHost is the client's address without its port, the unit that
// failed authentications are counted by.
func RemoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
