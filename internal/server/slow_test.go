package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/internal/testutil"
)

// durFastID pulls the event id out of an event frame without a JSON decode
// (the slow-consumer test reads millions of frames); 0 for other frames.
func durFastID(data []byte) int64 {
	const marker = `"payload":{"id":`
	i := bytes.Index(data, []byte(marker))
	if i < 0 {
		return 0
	}
	rest := data[i+len(marker):]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return 0
	}
	id, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
	return id
}

// One client never reads while thousands of events go to its room of
// hundreds: it is closed with 4008 "slow consumer", every other client gets
// every event, and the heap stays bounded.
func TestSlowConsumerIsolated(t *testing.T) {
	clients, events, queue := 500, 5000, 1024
	if durRace || testing.Short() {
		clients, events, queue = 60, 400, 40
	}
	s := durStart(t, func(c *server.Config) {
		c.Hub.MaxQueueMessages = queue
		c.Hub.MaxQueueBytes = queue * 1024
		// The queue overflow, not the write timeout, must catch the slow
		// one whatever the machine's speed; then its writer still gets the
		// close frame through once the client reads again.
		c.WSWriteTimeout = 2 * time.Minute
		c.WSSendBuffer = 32 << 10
		c.Edge.ConnsPerAddr = 2 * clients // every client dials from 127.0.0.1
	})
	tenants, _ := durSeed(t, s, 1, 0)
	room := domain.TenantRoom(tenants[0])

	// The slow one: a tiny receive buffer, and it never reads.
	u, _ := url.Parse(s.URL)
	d := websocket.Dialer{NetDialContext: durSmallBufferDialer().DialContext, HandshakeTimeout: 10 * time.Second}
	slow, _, err := d.Dial("ws://"+u.Host+"/ws?rooms="+room, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()

	type fast struct {
		got  atomic.Int64 // events received
		last atomic.Int64
		bad  atomic.Value // string: first violation
		done chan struct{}
		code int
	}
	fasts := make([]*fast, clients-1)
	for i := range fasts {
		f := &fast{done: make(chan struct{})}
		fasts[i] = f
		conn := s.Dial(t, "", "rooms="+room)
		go func() {
			defer close(f.done)
			for {
				_, data, err := conn.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						f.code = ce.Code
					}
					return
				}
				id := durFastID(data)
				if id == 0 {
					continue
				}
				if prev := f.last.Load(); id != prev+1 && f.bad.Load() == nil {
					f.bad.Store(fmt.Sprintf("event %d after %d", id, prev))
				}
				f.last.Store(id)
				f.got.Add(1)
			}
		}()
	}
	testutil.Eventually(t, 60*time.Second, "every client in the room", func() bool { return s.Hub.RoomSizes()[room] == clients })

	// The slow client reads only once the hub has dropped it: then a
	// contiguous prefix of the events, and the documented close.
	var slowGot, slowLast int64
	var code int
	var text string
	var slowErr error
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		// Not dropped in time fails the test's own wait for the drop.
		testutil.Await(2*time.Minute, 5*time.Millisecond, func() bool { return s.Hub.RoomSizes()[room] != clients })
		_ = slow.SetReadDeadline(time.Now().Add(2 * time.Minute))
		for {
			_, data, err := slow.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) {
					slowErr = fmt.Errorf("slow client ended without a close frame after %d events: %v", slowGot, err)
					return
				}
				code, text = ce.Code, ce.Text
				return
			}
			if id := durFastID(data); id != 0 {
				if id != slowLast+1 {
					slowErr = fmt.Errorf("slow client: event %d after %d", id, slowLast)
					return
				}
				slowLast = id
				slowGot++
			}
		}
	}()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	// The events, through the service (the writers of the resume test go
	// through HTTP; here the point is the fan-out).
	ctx := context.Background()
	began := time.Now()
	var paced time.Duration
	for i := range events {
		_, err := s.Service.CreateOrder(ctx, auth.Anonymous, service.NewOrder{
			TenantID: tenants[0], CustomerName: fmt.Sprintf("customer %d with a name long enough to weigh something", i),
			Items: []domain.Item{{Name: "Bakso", Quantity: 1, UnitPrice: 15000}},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Pace the producer to what the readers of this one machine can
		// take: a "fast" client is one that keeps within half a queue of
		// the head (so at most 3/4 of a queue behind between checks). The
		// slow one is never waited for.
		if step := max(queue/4, 1); i%step == step-1 {
			sent := int64(i + 1)
			waitStart := time.Now()
			testutil.Eventually(t, 60*time.Second, "the fast clients to keep up", func() bool {
				for _, f := range fasts {
					if f.got.Load() < sent-int64(queue/2) {
						select {
						case <-f.done:
							t.Fatalf("a fast client was closed (code %d) at event %d", f.code, sent)
						default:
						}
						return false
					}
				}
				return true
			})
			paced += time.Since(waitStart)
		}
	}
	t.Logf("%d events written in %v (%v of it waiting for the fast clients)", events, time.Since(began).Round(time.Millisecond), paced.Round(time.Millisecond))
	// The API is still answering at once (not measured: it just answers).
	s.MustDo(t, http.StatusOK, "", "GET", "/api/rooms", nil, nil)

	for i, f := range fasts {
		testutil.EventuallyNil(t, 120*time.Second, func() error {
			if got := f.got.Load(); got < int64(events) {
				return fmt.Errorf("client %d has %d of the %d events", i, got, events)
			}
			return nil
		})
		if bad := f.bad.Load(); bad != nil {
			t.Fatalf("client %d: %s", i, bad)
		}
	}
	testutil.Eventually(t, 60*time.Second, "the slow consumer to be dropped", func() bool { return s.Hub.RoomSizes()[room] == clients-1 })
	close(stopSampling)
	<-sampled
	runtime.GC()
	runtime.ReadMemStats(&ms)
	after := ms.HeapInuse

	<-slowDone
	if slowErr != nil {
		t.Fatal(slowErr)
	}
	if code != 4008 || text != "slow consumer" {
		t.Fatalf("slow client closed with %d %q, want 4008 \"slow consumer\"", code, text)
	}
	// The operator's console reads the count from the API.
	var conns struct {
		SlowConsumerCloses int64 `json:"slow_consumer_closes"`
	}
	s.MustDo(t, http.StatusOK, "", "GET", "/api/connections", nil, &conns)
	if conns.SlowConsumerCloses != 1 {
		t.Fatalf("/api/connections says %d slow-consumer closes, want 1", conns.SlowConsumerCloses)
	}
	for i, f := range fasts {
		select {
		case <-f.done:
			t.Fatalf("fast client %d was closed (code %d)", i, f.code)
		default:
		}
	}
	const mib = 1 << 20
	t.Logf("%d clients × %d events: %d fast clients got all %d (%d deliveries), the slow one %d before its close %d %q; heap in use %d MiB before, peak %d MiB, %d MiB after",
		clients, events, len(fasts), events, int64(len(fasts))*int64(events), slowGot, code, text, base/mib, peak.Load()/mib, after/mib)
	if peak.Load() > base+512*mib {
		t.Errorf("heap peaked at %d MiB over a %d MiB base", peak.Load()/mib, base/mib)
	}
	if after > base+64*mib {
		t.Errorf("heap in use %d MiB after the run, %d MiB before: something holds on to the events", after/mib, base/mib)
	}
}

// durRawConn does the WebSocket handshake over plain TCP and then never
// reads or writes again: a peer that vanished without closing.
func durRawConn(t *testing.T, base, query string) net.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET /ws?" + query + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return c
}

// A peer that stops answering pings is dropped and leaves every room.
func TestDeadPeerDropped(t *testing.T) {
	const interval = 100 * time.Millisecond
	s := durStart(t, func(c *server.Config) {
		c.PingInterval = interval
		c.PongTimeout = interval // dropped within two ping intervals of its last sign of life
	})
	// Vanished over raw TCP.
	durRawConn(t, s.URL, "rooms=tenant-1,kasir-1,display")
	// A gorilla client that reads but never answers a ping.
	mute := s.Dial(t, "", "rooms=tenant-1,user-5")
	mute.SetPingHandler(func(string) error { return nil })
	var ready atomic.Bool
	mr := durRead(mute, func(f durFrame) {
		if f.Op == "ready" {
			ready.Store(true) // registered in the hub
		}
	})
	testutil.Eventually(t, 30*time.Second, "the mute client's ready frame", ready.Load)
	start := time.Now()
	testutil.Eventually(t, 30*time.Second, "dead peers dropped", func() bool { return s.Hub.Active() == 0 })
	t.Logf("dead peers dropped %v after registration (ping interval %v)", time.Since(start).Round(time.Millisecond), interval)

	var rooms struct {
		Rooms map[string]int `json:"rooms"`
	}
	s.MustDo(t, http.StatusOK, "", "GET", "/api/rooms", nil, &rooms)
	if len(rooms.Rooms) != 0 {
		t.Fatalf("rooms after the drop: %v", rooms.Rooms)
	}
	var conns struct{ Active int }
	s.MustDo(t, http.StatusOK, "", "GET", "/api/connections", nil, &conns)
	if conns.Active != 0 {
		t.Fatalf("%d connections after the drop", conns.Active)
	}
	code, text := mr.wait(t, 30*time.Second)
	t.Logf("the mute gorilla client saw close %d %q", code, strings.TrimSpace(text))
}
