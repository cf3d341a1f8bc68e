// Package client is the Go client of posd's HTTP API and native WebSocket
// stream. The CLI subcommands and the terminal consoles reach the server only
// through it.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/posd/posd/internal/buildinfo"
)

// DefaultServer is where clients look for posd when told nothing else.
const DefaultServer = "http://127.0.0.1:5000"

// Config says how to reach a server.
type Config struct {
	Server     string       // http[s]://host:port; DefaultServer when empty
	Token      string       // bearer token; empty when the server runs with --auth=off
	CAFile     string       // PEM file of a private CA for https/wss
	HTTPClient *http.Client // optional; its Transport's TLS config is used for wss too when CAFile is empty
	UserAgent  string       // optional
}

// Client calls one posd server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	tls   *tls.Config
	ua    string

	offset atomic.Int64 // server clock minus ours, in ns, from the Date header
	dated  atomic.Bool
}

// ClockOffset estimates how far the server's clock is ahead of ours (negative:
// behind), from the Date header of the last answer; to about a second. It
// lets a console time orders by the server's clock. ok is false before any
// answer carried a Date.
func (c *Client) ClockOffset() (offset time.Duration, ok bool) {
	return time.Duration(c.offset.Load()), c.dated.Load()
}

func (c *Client) noteDate(h http.Header, sent, received time.Time) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return
	}
	// The header is truncated to the second: compare with the middle of the
	// exchange, plus half a second for the truncation.
	mid := sent.Add(received.Sub(sent) / 2)
	c.offset.Store(int64(d.Add(500 * time.Millisecond).Sub(mid)))
	c.dated.Store(true)
}

// New validates cfg and builds a client; it does not contact the server.
func New(cfg Config) (*Client, error) {
	server := strings.TrimSpace(cfg.Server)
	if server == "" {
		server = DefaultServer
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", cfg.Server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server address %q: scheme must be http or https", cfg.Server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server address %q: no host", cfg.Server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""

	c := &Client{base: u, token: strings.TrimSpace(cfg.Token), hc: cfg.HTTPClient, ua: cfg.UserAgent}
	if c.ua == "" {
		c.ua = "posd-client/" + buildinfo.String()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
		}
		c.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if c.tls != nil {
			tr.TLSClientConfig = c.tls.Clone()
		}
		c.hc = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	} else if c.tls == nil {
		if tr, ok := c.hc.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
			c.tls = tr.TLSClientConfig.Clone()
		}
	}
	return c, nil
}

// Server is the base address the client talks to.
func (c *Client) Server() string { return c.base.String() }

// APIError is a refusal by the server: a non-2xx answer, with the code and
// message of its {"error":{...}} body.
type APIError struct {
	Status  int
	Code    string
	Message string
	// Details are the facts behind the refusal ("reason", amounts, ids);
	// numbers arrive as json.Number. Words turns them into a sentence.
	Details map[string]any
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("%s (%d %s)", msg, e.Status, e.Code)
	}
	return fmt.Sprintf("%s (%d)", msg, e.Status)
}

// UnreachableError is a failure to talk to the server at all.
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("server unreachable at %s: %v", e.Server, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// IsStatus reports whether err is an APIError with the given HTTP status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

// Option adjusts one request.
type Option func(*reqOpts)

type reqOpts struct {
	idemKey string
	retries int
}

// WithRetries retries a request up to n more times (with backoff) when the
// server is unreachable or answers 502/503/504 — only for GETs and for
// writes with an Idempotency-Key, which the server never acts on twice.
func WithRetries(n int) Option { return func(o *reqOpts) { o.retries = n } }

// WithIdempotencyKey sends key as Idempotency-Key, so a retry of the same
// request returns the first result instead of acting twice.
func WithIdempotencyKey(key string) Option { return func(o *reqOpts) { o.idemKey = key } }

const maxResponse = 16 << 20

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends one request and decodes a 2xx JSON answer into out (when non-nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any, opts []Option) error {
	var ro reqOpts
	for _, o := range opts {
		o(&ro)
	}
	var payload []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		payload = b
	}
	// A request the server cannot have acted on twice (a GET, or a write
	// with an Idempotency-Key) may be retried when the server was
	// unreachable or answered 502/503/504.
	retries := 0
	if method == http.MethodGet || ro.idemKey != "" {
		retries = ro.retries
	}
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, path, q, payload, out, ro)
		if attempt >= retries || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(200*time.Millisecond<<attempt, 2*time.Second)):
		}
	}
}

func retryable(err error) bool {
	var unreach *UnreachableError
	if errors.As(err, &unreach) {
		return true
	}
	var apiErr *APIError
	return errors.As(err, &apiErr) && (apiErr.Status == http.StatusBadGateway || apiErr.Status == http.StatusServiceUnavailable || apiErr.Status == http.StatusGatewayTimeout)
}

func (c *Client) once(ctx context.Context, method, path string, q url.Values, payload []byte, out any, ro reqOpts) error {
	in := payload != nil
	var body io.Reader
	if in {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, q), body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if in {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if ro.idemKey != "" {
		req.Header.Set("Idempotency-Key", ro.idemKey)
	}
	sent := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{Server: c.base.String(), Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	c.noteDate(resp.Header, sent, time.Now())
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return &UnreachableError{Server: c.base.String(), Err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp.StatusCode, raw)
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", method, path, err)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func decodeError(status int, raw []byte) error {
	var body struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	e := &APIError{Status: status}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // amounts are int64: keep them exact
	if dec.Decode(&body) == nil && (body.Error.Code != "" || body.Error.Message != "") {
		e.Code, e.Message, e.Details = body.Error.Code, body.Error.Message, body.Error.Details
		return e
	}
	text := strings.TrimSpace(string(raw))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	e.Message = text
	return e
}

func idPath(prefix string, id int64, suffix string) string {
	return prefix + "/" + strconv.FormatInt(id, 10) + suffix
}
