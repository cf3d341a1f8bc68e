package socketio

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"
)

// Peers finds the other nodes sharing the database (the node registry).
type Peers interface {
	// NodeAddr is the host:port node id is reached at, and whether it is
	// alive.
	NodeAddr(ctx context.Context, id string) (addr string, live bool, err error)
}

// sidSeparator ends the owner node's id at the start of an Engine.IO sid:
// a character newID never produces.
const sidSeparator = "."

// forwardHeader marks a request one node forwarded to the session's owner.
// Its value signs the session id and the client address with the cluster
// secret: the owner believes X-Forwarded-For only under a valid signature,
// and never forwards a request that carries the header (the loop guard).
const forwardHeader = "X-Posd-Forwarded"

// peerLookupTimeout bounds the registry lookup of one forwarded request.
const peerLookupTimeout = 2 * time.Second

func (s *Server) newSID() string {
	if s.cfg.NodeID == "" {
		return newID()
	}
	return s.cfg.NodeID + sidSeparator + newID()
}

// sidOwner is the node id a sid starts with ("" when it names none).
func sidOwner(sid string) string {
	i := strings.LastIndex(sid, sidSeparator)
	if i <= 0 {
		return ""
	}
	return sid[:i]
}

func (s *Server) forwardMAC(sid, client string) string {
	m := hmac.New(sha256.New, []byte(s.cfg.ForwardSecret))
	m.Write([]byte(sid))
	m.Write([]byte{0})
	m.Write([]byte(client))
	return hex.EncodeToString(m.Sum(nil))
}

// acceptForwarded makes r's client the one a peer forwarded it for, if
// the peer signed it; it reports whether r came from a peer at all (a
// request carrying the header, signed or not, is never forwarded again).
func (s *Server) acceptForwarded(r *http.Request, sid string) bool {
	mac := r.Header.Get(forwardHeader)
	if mac == "" {
		return false
	}
	client := r.Header.Get("X-Forwarded-For")
	if s.cfg.ForwardSecret != "" && net.ParseIP(client) != nil &&
		hmac.Equal([]byte(mac), []byte(s.forwardMAC(sid, client))) {
		r.RemoteAddr = net.JoinHostPort(client, "0")
	}
	return true
}

// forward passes a request for a session another live node holds to that
// node, WebSocket upgrades included, and reports whether it did. A node
// that cannot be reached gets the client Engine.IO's "Session ID unknown":
// the client reconnects, and recovers its socket from the database.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, sid string) bool {
	owner := sidOwner(sid)
	if s.cfg.Peers == nil || s.cfg.ForwardSecret == "" || owner == "" || owner == s.cfg.NodeID {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), peerLookupTimeout)
	addr, live, err := s.cfg.Peers.NodeAddr(ctx, owner)
	cancel()
	if err != nil {
		s.lg.Debug("looking up a session's node", "node", owner, "err", err)
		return false
	}
	if !live || addr == "" {
		return false
	}
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = addr
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set("X-Forwarded-For", client)
			pr.Out.Header.Set(forwardHeader, s.forwardMAC(sid, client))
		},
		Transport: s.peerTransport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.lg.Debug("forwarding to a session's node", "node", owner, "addr", addr, "err", err)
			writeEngineError(w, errUnknownSID)
		},
		// Polls and WebSocket frames must reach the client as they come.
		FlushInterval: -1,
	}
	rp.ServeHTTP(w, r)
	return true
}
