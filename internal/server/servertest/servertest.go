// Package servertest starts a real posd server for tests: a real SQLite file
// in a temp dir, a real listener on 127.0.0.1:0, the same Run as posd serve.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/protocol/native"
	"github.com/posd/posd/internal/server"
)

// Server is a running test server.
type Server struct {
	*server.Server
	URL   string
	Admin string // admin token ("" with auth off)
	stop  context.CancelFunc
	done  chan error
}

// Start runs a server with cfg (DBPath defaults to a temp file, Addr to
// 127.0.0.1:0) and stops it when the test ends.
func Start(tb testing.TB, cfg server.Config) *Server {
	tb.Helper()
	if cfg.DBPath == "" {
		cfg.DBPath = tb.TempDir() + "/posd.db"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := server.New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start server: %v", err)
	}
	if err := s.Listen(); err != nil {
		tb.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &Server{Server: s, URL: s.URL(), Admin: s.AdminToken, stop: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Run(ctx) }()
	tb.Cleanup(func() { ts.Stop(tb) })
	return ts
}

// Stop shuts the server down (idempotent) and fails the test if Run failed.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			tb.Errorf("server run: %v", err)
		}
	case <-time.After(15 * time.Second):
		tb.Errorf("server did not stop within 15 s")
	}
}

// Response is an API answer.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into v, failing the test on error.
func (r Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

// ErrorCode is the code of an error body ("" when there is none).
func (r Response) ErrorCode() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// Do sends a request with token (none when empty); body is JSON-encoded
// unless it is a string or []byte.
func (s *Server) Do(tb testing.TB, token, method, path string, body any, headers ...string) Response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Body: raw, Header: resp.Header}
}

// MustDo is Do that fails the test unless the status is want; it decodes
// the body into out when out is not nil.
func (s *Server) MustDo(tb testing.TB, want int, token, method, path string, body, out any) Response {
	tb.Helper()
	r := s.Do(tb, token, method, path, body)
	if r.Status != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if out != nil {
		r.JSON(tb, out)
	}
	return r
}

// Dial opens a native /ws connection with query (e.g. "rooms=display&since=0").
func (s *Server) Dial(tb testing.TB, token, query string) *websocket.Conn {
	tb.Helper()
	c, resp, err := s.TryDial(token, query, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dial /ws?%s: %v (status %d)", query, err, status)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// TryDial opens /ws and returns the handshake response on failure.
func (s *Server) TryDial(token, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	u, _ := url.Parse(s.URL)
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/ws"
	q, _ := url.ParseQuery(query)
	if token != "" {
		q.Set("token", token)
	}
	u.RawQuery = q.Encode()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial(u.String(), header)
}

// Frame is a decoded server frame of the native protocol.
type Frame = native.ServerFrame

// Read reads the next frame (waiting up to d).
func Read(tb testing.TB, c *websocket.Conn, d time.Duration) Frame {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, data, err := c.ReadMessage()
	if err != nil {
		tb.Fatalf("read frame: %v", err)
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		tb.Fatalf("decode frame %s: %v", data, err)
	}
	return f
}

// NextEvent skips control frames and returns the next event frame.
func NextEvent(tb testing.TB, c *websocket.Conn, d time.Duration) Frame {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		f := Read(tb, c, time.Until(deadline))
		if f.Op == "event" {
			return f
		}
	}
}

// NoEvent asserts no event frame arrives within d.
func NoEvent(tb testing.TB, c *websocket.Conn, d time.Duration) {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return // deadline: nothing came
		}
		var f Frame
		_ = json.Unmarshal(data, &f)
		if f.Op == "event" {
			tb.Fatalf("unexpected event: %s", data)
		}
	}
}
