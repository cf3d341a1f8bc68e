package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/protocol/native"
	"github.com/posd/posd/internal/protocol/socketio"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// TestSocketIOMounted: the Engine.IO handshake answers at /socket.io/ on the
// assembled server (the Node suite covers the protocol with the real client).
func TestSocketIOMounted(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	r := s.Do(t, "", "GET", "/socket.io/?EIO=4&transport=polling", nil)
	if r.Status != 200 || !strings.HasPrefix(string(r.Body), "0{") {
		t.Fatalf("handshake: %d %q", r.Status, r.Body)
	}
	var open struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int      `json:"pingInterval"`
	}
	if err := json.Unmarshal(r.Body[1:], &open); err != nil || open.SID == "" || len(open.Upgrades) != 1 || open.Upgrades[0] != "websocket" || open.PingInterval <= 0 {
		t.Fatalf("open packet %q: %v", r.Body, err)
	}
	if r := s.Do(t, "", "GET", "/socket.io/?EIO=3&transport=polling", nil); r.Status != 400 {
		t.Fatalf("EIO=3 answered %d, want 400", r.Status)
	}
}

// TestSocketIOPingIntervalFromConfig: --ping-interval and --pong-timeout
// reach Socket.IO as they reach /ws. The open packet announces them, and a
// ping arrives on a polling session about one interval after the handshake,
// far sooner than socket.io's own 25 s default.
func TestSocketIOPingIntervalFromConfig(t *testing.T) {
	const interval, timeout = 300 * time.Millisecond, 700 * time.Millisecond
	s := servertest.Start(t, server.Config{AuthOff: true, PingInterval: interval, PongTimeout: timeout})
	r := s.Do(t, "", "GET", "/socket.io/?EIO=4&transport=polling", nil)
	var open struct {
		SID          string `json:"sid"`
		PingInterval int    `json:"pingInterval"`
		PingTimeout  int    `json:"pingTimeout"`
	}
	if r.Status != 200 || len(r.Body) < 2 {
		t.Fatalf("handshake: %d %q", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body[1:], &open); err != nil {
		t.Fatalf("open packet %q: %v", r.Body, err)
	}
	if open.PingInterval != int(interval.Milliseconds()) || open.PingTimeout != int(timeout.Milliseconds()) {
		t.Fatalf("open packet announces pingInterval %d ms, pingTimeout %d ms; want %d, %d",
			open.PingInterval, open.PingTimeout, interval.Milliseconds(), timeout.Milliseconds())
	}
	// The poll waits for the first packet the session sends: the ping.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+"/socket.io/?EIO=4&transport=polling&sid="+open.SID, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("poll for the ping (none within 5 s): %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != "2" {
		t.Fatalf("poll answered %d %q, want 200 \"2\" (ping)", resp.StatusCode, body)
	}
	if took := time.Since(start); took > interval+2*time.Second {
		t.Fatalf("ping arrived after %v, want about %v", took, interval)
	}
}

// TestSocketDefaultsAgree: one posd serve flag sets both endpoints and takes
// its default from native, so Socket.IO's own defaults must not drift from it.
func TestSocketDefaultsAgree(t *testing.T) {
	for _, c := range []struct {
		name        string
		native, sio any
	}{
		{"ping interval", native.DefaultPingInterval, socketio.DefaultPingInterval},
		{"pong timeout", native.DefaultPongTimeout, socketio.DefaultPingTimeout},
		{"write timeout", native.DefaultWriteTimeout, socketio.DefaultWriteTimeout},
		{"send buffer", native.DefaultSendBuffer, socketio.DefaultSendBuffer},
	} {
		if c.native != c.sio {
			t.Errorf("%s: /ws defaults to %v, Socket.IO to %v", c.name, c.native, c.sio)
		}
	}
}
