package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// Timeout is how long an endpoint has to answer: a 2xx within it is
// success, anything else a failure to retry.
const Timeout = 10 * time.Second

// ResponseLimit is how much of a response body is read (to let the
// connection be reused); SnippetLen is how much of it is kept in a
// delivery's error and logs.
const (
	ResponseLimit = 4 << 10
	SnippetLen    = 200
)

// UserAgent names posd to receivers.
const UserAgent = "posd-webhooks/1"

// Client sends signed messages under a Policy. It never follows a
// redirect (a 3xx is a failure: a redirect to loopback must not get round
// the policy), never uses an HTTP proxy from the environment (the proxy
// would connect, not the guarded dialer), and refuses a destination the
// policy refuses on the address actually dialed.
type Client struct {
	policy Policy
	http   *http.Client
}

// NewClient builds a client for policy.
func NewClient(policy Policy) *Client {
	d := &net.Dialer{Timeout: Timeout, KeepAlive: 30 * time.Second, Control: policy.checkAddr}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    Timeout,
		ResponseHeaderTimeout:  Timeout,
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &Client{policy: policy, http: &http.Client{
		Transport: tr,
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Policy is the client's policy.
func (c *Client) Policy() Policy { return c.policy }

// Result is one attempt's outcome.
type Result struct {
	Status  int // 0: no response
	Latency time.Duration
	// Err is set unless the endpoint answered 2xx: the transport's error,
	// or the status with the first SnippetLen bytes of the body.
	Err error
	// Refused: the policy refused the destination (no request was sent).
	Refused bool
}

// OK reports a 2xx.
func (r Result) OK() bool { return r.Err == nil }

// Send posts body to rawURL signed with secret as message id, stamped now.
func (c *Client) Send(ctx context.Context, rawURL, secret, id string, now time.Time, body []byte) Result {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Result{Err: fmt.Errorf("bad url: %w", err)}
	}
	if err := c.policy.checkScheme(u); err != nil {
		return Result{Err: err, Refused: true}
	}
	sig, err := Sign(secret, id, now, body)
	if err != nil {
		return Result{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Result{Err: err}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderSignature, sig)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		res := Result{Latency: time.Since(start), Err: trimURLError(err)}
		res.Refused = errors.Is(err, ErrRefused)
		return res
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseLimit))
	resp.Body.Close()
	res := Result{Status: resp.StatusCode, Latency: time.Since(start)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		res.Err = fmt.Errorf("%s: %s", resp.Status, Snippet(snippet))
	}
	return res
}

// trimURLError drops the *url.Error wrapper, whose text repeats the URL
// (which may carry a secret path) in every log line.
func trimURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("no answer within %s", Timeout)
		}
		return ue.Err
	}
	return err
}

// Snippet is the first SnippetLen bytes of b as valid UTF-8, for a
// delivery's error.
func Snippet(b []byte) string {
	if len(b) > SnippetLen {
		b = b[:SnippetLen]
	}
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return string(bytes.ToValidUTF8(b, nil))
}
