package edge

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/posd/posd/internal/domain"
)

// Handler resolves the client's address (r.RemoteAddr becomes the
// forwarded client behind a trusted proxy, so every later limit and log
// sees the real client) and caps request bodies: what one address and the
// whole server may be reading at once, and for how long. refuse answers a
// refused request (the API's error writer: errors become statuses in one
// place).
func (e *Edge) Handler(next http.Handler, refuse func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if client, ok := e.forwardedClient(r); ok {
			r.RemoteAddr = client
		}
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		n := r.ContentLength
		if n < 0 || n > e.cfg.MaxBodyBytes {
			// Unknown length, or more than any route takes: the route's
			// own limit ends it at MaxBodyBytes, so that is what it holds.
			n = e.cfg.MaxBodyBytes
		}
		key := AddrKey(r.RemoteAddr)
		if ok, perAddr := e.bodies.take(key, n, false); !ok {
			e.refusedBodies.Add(1)
			var err error
			if perAddr {
				e.warns.warn("bodies", key, "request refused: this address is sending too many bodies at once (--body-bytes-per-addr)", "limit", e.cfg.BodyBytesPerAddr)
				err = &Refusal{Code: domain.CodeRateLimited, Message: "too many requests in flight from this address; retry in a second", Wait: time.Second}
			} else {
				e.warns.warn("bodies", "*", "request refused: the server is reading its maximum of request bodies", "limit", e.cfg.BodyBytes)
				err = &Refusal{Code: domain.CodeUnavailable, Message: "the server is busy; retry in a second", Wait: time.Second}
			}
			// The unread body would otherwise be drained by the server
			// before the connection could be reused.
			w.Header().Set("Connection", "close")
			refuse(w, r, err)
			return
		}
		defer e.bodies.give(key, n)
		// The body must arrive within BodyTimeout of the headers; without a
		// deadline a client that stops one byte short holds its buffer
		// (and its share of the caps) for ever. The deadline stays until
		// the body has been read to its end: the server's own discard of
		// an unread rest after the handler is then bounded by it too.
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(e.cfg.Now().Add(e.cfg.BodyTimeout)); err == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: e.cfg.BodyTimeout}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody turns the read deadline's timeout into a coded error, so
// the client hears 408 rather than a generic failure, and lifts the
// deadline once the body is complete (the server's watch for a client
// that hangs up reads on, and must not take the deadline for a hang-up).
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		err = &BodyTimeoutError{Timeout: b.timeout}
	}
	return n, err
}

// BodyTimeoutError is a request body that did not arrive in time.
type BodyTimeoutError struct{ Timeout time.Duration }

func (e *BodyTimeoutError) Error() string {
	return "request_timeout: the request body did not arrive within " + e.Timeout.String()
}

// Unwrap gives the coded error the API maps to 408.
func (e *BodyTimeoutError) Unwrap() error {
	return &domain.Error{Code: domain.CodeTimeout, Message: "the request body did not arrive within " + e.Timeout.String()}
}

// forwardedClient is the client behind a trusted proxy: the right-most
// address of X-Forwarded-For that is not itself a trusted proxy (every
// entry left of it could have been written by the client). ok is false
// when the peer is not trusted or names no usable client.
func (e *Edge) forwardedClient(r *http.Request) (string, bool) {
	if len(e.cfg.TrustedProxies) == 0 {
		return "", false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return "", false
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !e.trusted(peer) {
		return "", false
	}
	hops := r.Header.Values("X-Forwarded-For")
	var list []string
	for _, h := range hops {
		list = append(list, strings.Split(h, ",")...)
	}
	for i := len(list) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(list[i]))
		if err != nil {
			return "", false // a malformed hop: believe nothing further left
		}
		if !e.trusted(a) {
			return net.JoinHostPort(a.Unmap().String(), "0"), true
		}
	}
	return "", false
}
