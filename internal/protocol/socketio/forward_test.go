package socketio

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
)

// fakePeers is a node registry: id -> address, and which are live.
type fakePeers struct {
	mu    sync.Mutex
	addrs map[string]string
	dead  map[string]bool
}

func (p *fakePeers) NodeAddr(_ context.Context, id string) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.addrs[id]
	return a, ok && !p.dead[id], nil
}

// twoNodes runs nodes a and b on one log, one record store and one secret.
func twoNodes(t *testing.T) (a, b *env, peers *fakePeers) {
	lg := &memLog{}
	recs := newMemRecords(time.Now)
	peers = &fakePeers{addrs: map[string]string{}, dead: map[string]bool{}}
	node := func(id string) *env {
		e := newEnvWithHub(t, lg, hub.New(hub.Options{Encoders: []hub.Encoder{Encode}}, lg, nil), func(c *Config) {
			c.NodeID, c.Records, c.Peers, c.ForwardSecret = id, recs, peers, "s3cret"
		})
		u, _ := url.Parse(e.ts.URL)
		peers.mu.Lock()
		peers.addrs[id] = u.Host
		peers.mu.Unlock()
		return e
	}
	return node("nodea"), node("nodeb"), peers
}

// Polling needs no sticky sessions: every request of a session opened on
// node a may land on node b, which forwards it to a.
func TestPollingThroughAnotherNode(t *testing.T) {
	a, b, _ := twoNodes(t)
	c, _ := a.pollHandshake()
	if !strings.HasPrefix(c.sid, "nodea.") {
		t.Fatalf("sid %q does not name its node", c.sid)
	}
	viaB := &pollClient{e: b, sid: c.sid}
	viaB.send(`40{"token":"tenant1"}`, `421["join-tenant",1]`)
	got := viaB.poll()
	if _, p := connectReply(t, got[0]); p == "" {
		t.Fatalf("connect through node b: %q", got)
	}
	if b.srv.Sessions() != 0 || a.srv.Sessions() != 1 {
		t.Fatalf("sessions: a %d, b %d; want the session on a only", a.srv.Sessions(), b.srv.Sessions())
	}
	// The event is fanned out by a's hub, where the socket lives.
	ev := publishOn(a, "tenant-1")
	want := []string{`431[{"ok":true,"room":"tenant-1"}]`, enc(ev)}
	got = got[1:]
	for len(got) < len(want) {
		got = append(got, viaB.poll()...)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("through node b: %q, want %q", got, want)
	}
}

func publishOn(e *env, room string) domain.Event { return e.publish(domain.EventOrderCreated, room) }

// A session whose node is dead or unknown is Engine.IO's "Session ID
// unknown", so the client reconnects (and recovers from the records); a
// request a node forwarded is never forwarded again, and a forged
// signature buys no trust.
func TestForwardRefusals(t *testing.T) {
	a, b, peers := twoNodes(t)
	c, _ := a.pollHandshake()
	// A dead node, by the registry or by its port.
	peers.mu.Lock()
	peers.dead["nodea"] = true
	peers.mu.Unlock()
	if status, body := b.get(b.url("EIO=4&transport=polling&sid="+c.sid), nil); status != 400 || !strings.Contains(body, "Session ID unknown") {
		t.Fatalf("owner dead by the registry: %d %q", status, body)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	peers.mu.Lock()
	peers.dead["nodea"] = false
	peers.addrs["nodex"] = closed
	peers.mu.Unlock()
	for _, sid := range []string{"nodex.abc", "nodez.abc", "noprefix"} {
		if status, body := b.get(b.url("EIO=4&transport=polling&sid="+sid), nil); status != 400 || !strings.Contains(body, "Session ID unknown") {
			t.Fatalf("sid %s: %d %q", sid, status, body)
		}
	}
	// The loop guard: a's session asked of b with the forwarded mark is
	// not sent back to a.
	hdr := http.Header{forwardHeader: {"anything"}}
	if status, _ := b.get(b.url("EIO=4&transport=polling&sid="+c.sid), hdr); status != 400 {
		t.Fatalf("a forwarded request was forwarded again: %d", status)
	}
	// Signatures: only the secret's is believed.
	r, _ := http.NewRequest("GET", "/socket.io/?sid=s1", nil)
	r.RemoteAddr = "10.0.0.9:1234"
	r.Header.Set("X-Forwarded-For", "192.0.2.7")
	r.Header.Set(forwardHeader, "00")
	if !a.srv.acceptForwarded(r, "s1") || r.RemoteAddr != "10.0.0.9:1234" {
		t.Fatalf("forged signature: remote %s", r.RemoteAddr)
	}
	r.Header.Set(forwardHeader, b.srv.forwardMAC("s1", "192.0.2.7"))
	if !a.srv.acceptForwarded(r, "s1") || r.RemoteAddr != "192.0.2.7:0" {
		t.Fatalf("signed by a peer: remote %s, want the client's", r.RemoteAddr)
	}
	r.Header.Set(forwardHeader, b.srv.forwardMAC("s2", "192.0.2.7"))
	r.RemoteAddr = "10.0.0.9:1234"
	if a.srv.acceptForwarded(r, "s1"); r.RemoteAddr != "10.0.0.9:1234" {
		t.Fatalf("a signature for another session was believed")
	}
}

// A WebSocket upgrade of a polling session is forwarded too.
func TestUpgradeThroughAnotherNode(t *testing.T) {
	a, b, _ := twoNodes(t)
	c, _ := a.pollHandshake()
	c.send(`40{"token":"tenant1"}`)
	if _, p := connectReply(t, c.poll()[0]); p == "" {
		t.Fatal("not connected")
	}
	w := b.dial("EIO=4&transport=websocket&sid=" + c.sid)
	w.send("2probe")
	if got := w.read(); got != "3probe" {
		t.Fatalf("probe through node b: %q", got)
	}
	w.send("5")
	ev := publishOn(a, domain.RoomAll)
	w.expect(enc(ev))
}
