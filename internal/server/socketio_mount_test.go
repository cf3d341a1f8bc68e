package server_test

import (
	"encoding/json"
	"strings"
	"testing"

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
