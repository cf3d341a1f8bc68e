package socketio

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/testutil"
)

// connectWS opens a direct WebSocket session and sends CONNECT with data.
func connectWS(t *testing.T, e *env, data string) (*wsClient, string) {
	t.Helper()
	w := e.dial("EIO=4&transport=websocket")
	w.read()
	w.send("40" + data)
	return w, w.next()
}

func TestRecoveryReplaysWhatWasMissed(t *testing.T) {
	e := newEnv(t, nil)
	w, reply := connectWS(t, e, `{"token":"tenant1"}`)
	sid, pid := connectReply(t, reply)
	w.send(`421["join-tenant",1]`)
	w.expect(`431[{"ok":true,"room":"tenant-1"}]`)
	ev1 := e.publish(domain.EventOrderCreated, "tenant-1", "display")
	w.expect(enc(ev1))

	// The transport is cut; events happen meanwhile.
	w.conn.Close()
	ev2 := e.publish(domain.EventOrderStatusChanged, "tenant-1", "display")
	e.publish(domain.EventOrderCreated, "tenant-2", "display")
	ev4 := e.publish(domain.EventAlert, domain.RoomAll)

	// The client comes back with its pid and the last offset it saw. Whether
	// or not the server noticed the old transport died, it recovers.
	w2, reply := connectWS(t, e, `{"token":"tenant1","pid":"`+pid+`","offset":"`+itoa(ev1.ID)+`"}`)
	sid2, pid2 := connectReply(t, reply)
	if sid2 != sid || pid2 != pid {
		t.Fatalf("recovered as %s/%s, want %s/%s", sid2, pid2, sid, pid)
	}
	w2.expect(enc(ev2), enc(ev4))
	ev5 := e.publish(domain.EventOrderCancelled, "tenant-1", "display")
	w2.expect(enc(ev5)) // rooms were restored, live delivery continues, no duplicate

	// A pid is good for one recovery only.
	w2.conn.Close()
	w3, reply := connectWS(t, e, `{"token":"tenant1","pid":"`+pid+`","offset":"`+itoa(ev5.ID)+`"}`)
	if _, p := connectReply(t, reply); p != pid {
		t.Fatalf("second recovery got pid %s, want %s (the session was saved again)", p, pid)
	}
	w3.send(`42["leave-tenant",1]`)
	w3.send("41") // a client disconnect is final
	w3.send(`40{"token":"tenant1"}`)
	if _, p := connectReply(t, w3.next()); p == pid {
		t.Fatalf("a new CONNECT after DISCONNECT reused the pid")
	}
	w4, reply := connectWS(t, e, `{"token":"tenant1","pid":"`+pid+`","offset":"`+itoa(ev5.ID)+`"}`)
	if _, p := connectReply(t, reply); p == pid {
		t.Fatalf("recovered a session the client had disconnected")
	}
	_ = w4
}

func TestRecoveryWithoutOffsetUsesSessionStart(t *testing.T) {
	e := newEnv(t, nil)
	e.publish(domain.EventOrderCreated, "tenant-1") // before the session: never replayed
	w, reply := connectWS(t, e, `{"token":"admin"}`)
	_, pid := connectReply(t, reply)
	w.send(`421["join-tenant",1]`)
	w.expect(`431[{"ok":true,"room":"tenant-1"}]`)
	w.conn.Close()
	ev2 := e.publish(domain.EventOrderCreated, "tenant-1")
	w2, reply := connectWS(t, e, `{"token":"admin","pid":"`+pid+`"}`)
	if _, p := connectReply(t, reply); p != pid {
		t.Fatalf("not recovered")
	}
	w2.expect(enc(ev2))
}

func TestRecoveryRefused(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		horizon int64
	}{
		{"log pruned past the offset", "tenant1", 3},
		{"another token", "admin", 0},
		{"bad token", "nope", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			w, reply := connectWS(t, e, `{"token":"tenant1"}`)
			_, pid := connectReply(t, reply)
			w.send(`421["join-tenant",1]`)
			w.expect(`431[{"ok":true,"room":"tenant-1"}]`)
			ev1 := e.publish(domain.EventOrderCreated, "tenant-1")
			w.expect(enc(ev1))
			w.conn.Close()
			for range 3 {
				e.publish(domain.EventOrderCreated, "tenant-1")
			}
			e.log.mu.Lock()
			e.log.horizon = tt.horizon
			e.log.mu.Unlock()
			w2, reply := connectWS(t, e, `{"token":"`+tt.token+`","pid":"`+pid+`","offset":"`+itoa(ev1.ID)+`"}`)
			if tt.token == "nope" {
				if !strings.HasPrefix(reply, "44{") {
					t.Fatalf("reply %q, want CONNECT_ERROR", reply)
				}
				return
			}
			if _, p := connectReply(t, reply); p == pid {
				t.Fatalf("recovered despite %s", tt.name)
			}
			// A fresh session: no replay, no rooms.
			ev := e.publish(domain.EventAlert, domain.RoomAll)
			w2.expect(enc(ev))
		})
	}
}

func TestPollingRecovery(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.pollHandshake()
	c.send(`40{"token":"kasir3"}`, `42["join-kasir",3]`)
	_, pid := connectReply(t, c.poll()[0])
	ev1 := e.publish(domain.EventPaymentProcessed, "tenant-1", "kasir-3", "display")
	c.expect(enc(ev1))
	c.send("1") // the client closes the transport (socket.io.engine.close())
	ev2 := e.publish(domain.EventPaymentRefunded, "tenant-1", "kasir-3", "display")
	d, _ := e.pollHandshake()
	d.send(`40{"token":"kasir3","pid":"` + pid + `","offset":"` + itoa(ev1.ID) + `"}`)
	got := d.poll()
	if _, p := connectReply(t, got[0]); p != pid {
		t.Fatalf("not recovered: %q", got)
	}
	want := []string{enc(ev2)}
	got = got[1:]
	for len(got) < len(want) {
		got = append(got, d.poll()...)
	}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("replay = %q, want %q", got, want)
	}
}

func TestSlowConsumerIsClosedAndRecovers(t *testing.T) {
	log := &memLog{}
	h := hub.New(hub.Options{Encoders: []hub.Encoder{Encode}, MaxQueueMessages: 3}, log, nil)
	e := newEnvWithHub(t, log, h, nil)
	c, _ := e.pollHandshake()
	c.send(`40{"token":"admin"}`, `42["join-tenant",1]`)
	_, pid := connectReply(t, c.poll()[0])
	// The client stops polling; its queue overflows.
	var evs []domain.Event
	for range 5 {
		evs = append(evs, e.publish(domain.EventOrderCreated, "tenant-1"))
	}
	// Publish hands the events to the hub's goroutine: poll only once it has
	// fanned them all out, or the poll may take the first before the queue
	// overflows.
	testutil.Eventually(t, 10*time.Second, "the hub to fan out the events", func() bool { return e.hub.LastPublished() >= evs[4].ID })
	c.expect(`42["error",{"code":"slow_consumer","message":"too far behind: reconnect to resume"}]`, "1")
	if status, _ := e.get(c.url(), nil); status != 400 {
		t.Fatalf("session still known after the slow-consumer close")
	}
	// It comes back and recovers everything it had not received.
	w, reply := connectWS(t, e, `{"token":"admin","pid":"`+pid+`"}`)
	if _, p := connectReply(t, reply); p != pid {
		t.Fatalf("not recovered")
	}
	for _, ev := range evs {
		w.expect(enc(ev))
	}
}

// roomLog is a memLog that, like the store, keeps retention's horizon per
// room (hub.RoomHorizonLog).
type roomLog struct {
	memLog
	rooms map[string]int64
}

func (l *roomLog) HorizonFor(ctx context.Context, rooms []string) (int64, error) {
	if rooms == nil {
		return l.Horizon(ctx)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.rooms[domain.RoomAll]
	for _, r := range rooms {
		h = max(h, l.rooms[r])
	}
	return h, nil
}

// Recovery asks only whether the socket's own rooms lost events: a quiet
// stall's display recovers though retention pruned past its offset
// elsewhere, and is refused once its own room lost one.
func TestRecoveryUsesTheRoomsHorizon(t *testing.T) {
	for _, roomPruned := range []bool{false, true} {
		rl := &roomLog{rooms: map[string]int64{}}
		h := hub.New(hub.Options{Encoders: []hub.Encoder{Encode}}, rl, nil)
		e := newEnvWithHub(t, &rl.memLog, h, nil)
		w, pid, ev1 := tenant1Member(t, e)
		w.conn.Close()
		ev2 := e.publish(domain.EventOrderCreated, "tenant-1")
		for range 3 {
			e.publish(domain.EventOrderCreated, "tenant-2")
		}
		// Retention pruned the busy room past the client's offset; the
		// quiet one (tenant-1) kept everything unless roomPruned.
		rl.mu.Lock()
		rl.horizon = ev2.ID + 2
		rl.rooms["tenant-2"] = ev2.ID + 2
		if roomPruned {
			rl.rooms["tenant-1"] = ev2.ID
		}
		rl.mu.Unlock()

		w2, recovered := comeBack(t, e, pid, ev1.ID)
		if roomPruned {
			if recovered {
				t.Fatal("recovered although the socket's own room lost events past its offset")
			}
			continue
		}
		if !recovered {
			t.Fatal("not recovered, though nothing in the socket's rooms was pruned")
		}
		w2.expect(enc(ev2))
		ev := e.publish(domain.EventOrderCreated, "tenant-1")
		w2.expect(enc(ev)) // the room came back with the session
	}
}

// Records outlive the server that wrote them: a shutdown refreshes its
// live sockets' records, and the next server on the same Records recovers
// them; the client keeps its pid and gets what it missed meanwhile. An
// expired record does not recover.
func TestRecoveryAcrossARestart(t *testing.T) {
	lg := &memLog{}
	recs := newMemRecords(time.Now)
	shared := func(c *Config) { c.Records = recs }
	e := newEnvWithHub(t, lg, hub.New(hub.Options{Encoders: []hub.Encoder{Encode}}, lg, nil), shared)
	_, pid, ev1 := tenant1Member(t, e)

	before := time.Now()
	e.srv.Close() // shutdown
	recs.mu.Lock()
	r, ok := recs.m[pid]
	recs.mu.Unlock()
	if !ok || fmt.Sprint(r.Rooms) != "[tenant-1]" || r.Expires.Before(before.Add(2*time.Minute)) {
		t.Fatalf("record after shutdown: %+v, %v; want tenant-1, refreshed for the recovery window", r, ok)
	}

	for _, expired := range []bool{false, true} {
		// The next process: a new hub and server on the same log and records.
		e2 := newEnvWithHub(t, lg, hub.New(hub.Options{Encoders: []hub.Encoder{Encode}}, lg, nil), shared)
		e2.nextID = e.nextID
		if expired {
			recs.mu.Lock()
			r := recs.m[pid]
			r.Expires = time.Now().Add(-time.Second)
			recs.m[pid] = r
			recs.mu.Unlock()
		}
		ev2 := e2.publish(domain.EventOrderCreated, "tenant-1") // before the client is back
		e.nextID = e2.nextID
		w2, recovered := comeBack(t, e2, pid, ev1.ID)
		if expired {
			if recovered {
				t.Fatal("recovered from an expired record")
			}
			continue
		}
		if !recovered {
			t.Fatal("not recovered after the restart")
		}
		w2.expect(enc(ev2))
		ev := e2.publish(domain.EventOrderCreated, "tenant-1")
		w2.expect(enc(ev)) // back in its room
		ev1 = ev
		e2.srv.Close()
	}
}

// tenant1Member connects with the tenant1 token, joins tenant-1 and sees
// one event there; it returns the client, its pid and that event.
func tenant1Member(t *testing.T, e *env) (*wsClient, string, domain.Event) {
	t.Helper()
	w, reply := connectWS(t, e, `{"token":"tenant1"}`)
	_, pid := connectReply(t, reply)
	w.send(`421["join-tenant",1]`)
	w.expect(`431[{"ok":true,"room":"tenant-1"}]`)
	ev := e.publish(domain.EventOrderCreated, "tenant-1")
	w.expect(enc(ev))
	return w, pid, ev
}

// comeBack reconnects as tenant1 with pid and offset; recovered reports
// whether the server gave the session back.
func comeBack(t *testing.T, e *env, pid string, offset int64) (w *wsClient, recovered bool) {
	t.Helper()
	w, reply := connectWS(t, e, `{"token":"tenant1","pid":"`+pid+`","offset":"`+itoa(offset)+`"}`)
	_, p := connectReply(t, reply)
	return w, p == pid
}

// A client that reconnects while its old transport is still closing (its
// reader saw the cut and marked the session closed, but has not detached
// the socket yet) recovers at once: the record was written when it
// connected. The old close, finishing late, cannot bring the claimed
// record back: its write is of the older generation.
func TestReclaimDoesNotWaitForAClosingTransport(t *testing.T) {
	e := newEnv(t, nil)
	_, reply := connectWS(t, e, `{"token":"tenant1"}`)
	_, pid := connectReply(t, reply)
	e.srv.mu.Lock()
	sock := e.srv.live[pid]
	e.srv.mu.Unlock()
	if sock == nil {
		t.Fatal("connected socket is not live")
	}
	defer sock.client.Close(hub.GoingAway)
	// The old transport's close, frozen half-way: closed, not yet detached.
	sock.sess.mu.Lock()
	sock.sess.closed = true
	sock.sess.sock = nil
	sock.sess.mu.Unlock()

	r := e.srv.reclaim(context.Background(), pid, sock.principal.TokenID)
	if r == nil || r.PID != pid {
		t.Fatalf("reclaim during the old close: %+v, want the record of %s", r, pid)
	}
	e.srv.detach(sock, true, true) // the old close finishes, late
	if again := e.srv.reclaim(context.Background(), pid, sock.principal.TokenID); again != nil {
		t.Fatalf("the late close brought the claimed record back: %+v", again)
	}
}

// A shutdown waits for a session whose close another goroutine has begun,
// then refreshes the records of every socket that was live: a graceful
// restart under load keeps them all recoverable.
func TestCloseWaitsForAClosingSession(t *testing.T) {
	recs := newMemRecords(time.Now)
	e := newEnv(t, func(c *Config) { c.Records = recs; c.RecoveryWindow = time.Hour })
	_, reply := connectWS(t, e, `{"token":"tenant1"}`)
	_, pid := connectReply(t, reply)
	e.srv.mu.Lock()
	sock := e.srv.live[pid]
	e.srv.mu.Unlock()
	if sock == nil {
		t.Fatal("connected socket is not live")
	}
	defer sock.client.Close(hub.GoingAway)
	// Another close, frozen half-way: closed, not yet detached.
	sock.sess.mu.Lock()
	sock.sess.closed = true
	sock.sess.sock = nil
	sock.sess.mu.Unlock()
	// Its record is older than the shutdown.
	recs.mu.Lock()
	r := recs.m[pid]
	r.Expires = time.Now().Add(time.Second)
	recs.m[pid] = r
	recs.mu.Unlock()

	done := make(chan struct{})
	go func() { e.srv.Close(); close(done) }()
	select {
	case <-done:
		t.Fatal("Close returned before the closing session was detached")
	case <-time.After(50 * time.Millisecond):
	}
	e.srv.detach(sock, true, false) // the other close finishes
	<-done
	recs.mu.Lock()
	r = recs.m[pid]
	recs.mu.Unlock()
	if r.Expires.Before(time.Now().Add(50 * time.Minute)) {
		t.Fatalf("record after shutdown expires at %v: want a full recovery window from the shutdown", r.Expires)
	}
}
