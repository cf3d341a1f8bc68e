package board_test

// The board's script against a scripted fake of the API and /ws, so that
// resume, gap reload, duplicates and hostile text are exercised exactly.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/board"
	"github.com/posd/posd/internal/testutil"
)

type fakeOrder struct {
	ID           int64  `json:"id"`
	TenantID     int64  `json:"tenant_id"`
	OrderNumber  string `json:"order_number"`
	CustomerName string `json:"customer_name"`
	Status       string `json:"status"`
	UpdatedAt    string `json:"updated_at"`
}

type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	refuse    bool // answer every API and /ws request 401, as posd does a bad token
	orders    []fakeOrder
	lastEvent int64
	apiAuth   []string
	apiQuery  []url.Values
	conn      *websocket.Conn
	wsQueries chan url.Values
	received  chan string
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{t: t, wsQueries: make(chan url.Values, 16), received: make(chan string, 64)}
	mux := http.NewServeMux()
	h := board.Handler()
	mux.Handle("/board", h)
	mux.Handle("/board/", h)
	mux.HandleFunc("GET /api/orders", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.refuse {
			http.Error(w, `{"error":{"code":"unauthorized","message":"invalid token"}}`, http.StatusUnauthorized)
			return
		}
		f.apiAuth = append(f.apiAuth, r.Header.Get("Authorization"))
		f.apiQuery = append(f.apiQuery, r.URL.Query())
		out := []fakeOrder{}
		for _, o := range f.orders {
			open := o.Status == "pending" || o.Status == "preparing" || o.Status == "ready"
			if r.URL.Query().Get("open") != "true" || open {
				out = append(out, o)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"orders": out, "last_event_id": f.lastEvent})
	})
	mux.HandleFunc("GET /api/tenants", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"tenants":[{"id":2,"name":"Bakso Pak Kumis","code":"T2"}]}`))
	})
	up := websocket.Upgrader{}
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		refuse := f.refuse
		f.mu.Unlock()
		if refuse {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.conn != nil {
			_ = f.conn.Close()
		}
		f.conn = c
		f.mu.Unlock()
		f.wsQueries <- r.URL.Query()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			select {
			case f.received <- string(msg):
			default:
			}
		}
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) set(lastEvent int64, orders ...fakeOrder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders, f.lastEvent = orders, lastEvent
}

// send writes one frame to the board's current socket.
func (f *fakeServer) send(frame string) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == nil {
		f.t.Fatal("no board connected")
	}
	if err := f.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		f.t.Fatalf("send to board: %v", err)
	}
}

// drop closes the board's socket abruptly, as a server restart would.
func (f *fakeServer) drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		_ = f.conn.Close()
		f.conn = nil
	}
}

func (f *fakeServer) nextWS() url.Values {
	f.t.Helper()
	select {
	case q := <-f.wsQueries:
		return q
	case <-time.After(20 * time.Second):
		f.t.Fatal("board did not open a WebSocket")
		return nil
	}
}

func event(id int64, name string, data string) string {
	typ := strings.ReplaceAll(strings.ReplaceAll(name, "order:", "order_"), "payment:", "payment_")
	return fmt.Sprintf(`{"op":"event","event":%q,"payload":{"id":%d,"type":%q,"timestamp":"%s","data":%s}}`,
		name, id, typ, time.Now().UTC().Format(time.RFC3339), data)
}

func statusChanged(id int64, orderID int64, number, prev, next string) string {
	return event(id, "order:status_changed", fmt.Sprintf(
		`{"order_id":%d,"order_number":%q,"previous_status":%q,"new_status":%q,"transition":"%s → %s","customer_name":"Budi"}`,
		orderID, number, prev, next, prev, next))
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// inList is a page expression: order number n is a tile of list id.
func inList(list, n string) string {
	return `Array.from(document.querySelectorAll('#` + list + ` .tile .num')).some(function(e){return e.textContent === ` + jsString(n) + `})`
}

func notInList(list, n string) string { return "!" + inList(list, n) }

func TestPageFollowsEventsAndResumes(t *testing.T) {
	f := newFakeServer(t)
	now := time.Now().UTC().Format(time.RFC3339)
	f.set(10,
		fakeOrder{ID: 1, TenantID: 1, OrderNumber: "T1-001", CustomerName: "Siti", Status: "preparing", UpdatedAt: now},
		fakeOrder{ID: 2, TenantID: 2, OrderNumber: "T2-001", CustomerName: "Agus", Status: "ready", UpdatedAt: now},
		fakeOrder{ID: 5, TenantID: 1, OrderNumber: "T1-002", CustomerName: "Dewi", Status: "pending", UpdatedAt: now},
	)
	b := startBrowser(t)
	b.navigate(f.srv.URL + "/board?token=s3cret")

	q := f.nextWS()
	if got, want := q.Get("since"), "10"; got != want {
		t.Errorf("ws since = %q, want %q", got, want)
	}
	if got, want := q.Get("rooms"), "display"; got != want {
		t.Errorf("ws rooms = %q, want %q", got, want)
	}
	if got, want := q.Get("token"), "s3cret"; got != want {
		t.Errorf("ws token = %q, want %q", got, want)
	}
	b.waitFor("live badge", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	b.waitFor("stall legend", `!document.getElementById('legend').hidden && /T2\s*Bakso Pak Kumis/.test(document.getElementById('legend').textContent)`)
	b.waitFor("snapshot shown", inList("list-preparing", "T1-001")+" && "+inList("list-ready", "T2-001")+" && "+inList("list-preparing", "T1-002"))
	f.mu.Lock()
	for _, a := range f.apiAuth {
		if a != "Bearer s3cret" {
			t.Errorf("API call with Authorization %q, want the page's token", a)
		}
	}
	f.mu.Unlock()

	// Live: an order becomes ready, one arrives with a hostile name.
	f.send(statusChanged(11, 1, "T1-001", "preparing", "ready"))
	b.waitFor("T1-001 ready", inList("list-ready", "T1-001")+" && "+notInList("list-preparing", "T1-001"))
	evil := `<img src=x onerror="document.body.dataset.pwned=1">`
	f.send(event(12, "order:created", `{"order_id":7,"order_number":"T3-001","customer_name":`+jsString(evil)+`,"total_amount":25000,"items_count":1,"status":"pending"}`))
	b.waitFor("T3-001 preparing", inList("list-preparing", "T3-001"))
	if s := b.state(); !has(s.Names, "<img") {
		t.Errorf("names = %q, want the hostile name's first word shown as text", s.Names)
	}
	var imgs int
	if err := b.eval(`document.querySelectorAll('.tile img').length + (document.body.dataset.pwned ? 100 : 0)`, &imgs); err != nil || imgs != 0 {
		t.Errorf("markup from a customer name reached the DOM (%d, %v)", imgs, err)
	}
	// Payments and QR scans change nothing; a replayed older event is ignored.
	f.send(event(13, "payment:processed", `{"payment_id":1,"order_id":7,"order_number":"T3-001","amount_paid":25000,"payment_method":"cash","transaction_reference":"PAY-1-AAAAAA","status":"success","change":0,"customer_name":"x"}`))
	f.send(statusChanged(11, 1, "T1-001", "pending", "preparing"))
	b.waitFor("event 13 seen", `document.body.dataset.lastEventId === "13"`)
	if s := b.state(); !has(s.Ready, "T1-001") || has(s.Preparing, "T1-001") {
		t.Errorf("a duplicate event moved T1-001 back: %+v", s)
	}
	b.screenshot("fake-live")

	// Drop: the board shows it is reconnecting and resumes from its last id.
	f.drop()
	q = f.nextWS()
	if got, want := q.Get("since"), "13"; got != want {
		t.Errorf("resume since = %q, want %q", got, want)
	}
	b.waitFor("live again", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	f.send(statusChanged(14, 2, "T2-001", "ready", "completed"))
	f.send(event(15, "order:cancelled", `{"order_id":5,"order_number":"T1-002","reason":"habis","customer_name":"Dewi","refund_amount":0}`))
	b.waitFor("completed and cancelled gone", notInList("list-ready", "T2-001")+" && "+notInList("list-preparing", "T1-002"))

	// Gap: the log no longer reaches back; the board reloads from the API.
	f.set(150,
		fakeOrder{ID: 7, TenantID: 3, OrderNumber: "T3-001", CustomerName: "Rina", Status: "ready", UpdatedAt: now},
		fakeOrder{ID: 9, TenantID: 3, OrderNumber: "T3-002", CustomerName: "Joko", Status: "preparing", UpdatedAt: now},
	)
	f.send(`{"op":"error","code":"gap","message":"too old","oldest_id":120}`)
	q = f.nextWS()
	if got, want := q.Get("since"), "150"; got != want {
		t.Errorf("since after reload = %q, want %q", got, want)
	}
	b.waitFor("reloaded state", inList("list-ready", "T3-001")+" && "+inList("list-preparing", "T3-002")+" && "+notInList("list-ready", "T1-001"))
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

func TestPageOneTenant(t *testing.T) {
	f := newFakeServer(t)
	f.set(3, fakeOrder{ID: 4, TenantID: 2, OrderNumber: "T2-004", CustomerName: "Wati", Status: "ready"},
		fakeOrder{ID: 5, TenantID: 2, OrderNumber: "T2-005", CustomerName: "  Budi Santoso Wijaya ", Status: "preparing"})
	b := startBrowser(t)
	b.navigate(f.srv.URL + "/board?tenant=2")
	q := f.nextWS()
	if got, want := q.Get("rooms"), "tenant-2"; got != want {
		t.Errorf("ws rooms = %q, want %q", got, want)
	}
	if q.Has("token") {
		t.Errorf("ws token sent without one in the page URL: %q", q.Get("token"))
	}
	b.waitFor("tenant title", `document.getElementById('title').textContent === "Bakso Pak Kumis" && document.getElementById('legend').hidden`)
	b.waitFor("order shown", inList("list-ready", "T2-004"))
	// A public TV: first names only, by default.
	if s := b.state(); !has(s.Names, "Wati") || !has(s.Names, "Budi") || len(s.Names) != 2 {
		t.Errorf("names = %q, want the customers' first names only", s.Names)
	}
	var full bool
	if err := b.eval(`/Santoso|Wijaya/.test(document.body.textContent)`, &full); err != nil {
		t.Fatal(err)
	}
	if full {
		t.Errorf("a customer's full name is on the public board")
	}
	for _, q := range []string{"names=none", "names=0"} {
		b.navigate(f.srv.URL + "/board?tenant=2&" + q)
		f.nextWS()
		b.waitFor("numbers only with "+q, inList("list-ready", "T2-004")+" && "+inList("list-preparing", "T2-005")+
			` && document.querySelectorAll('.tile .name').length === 0 && !/Wati|Budi/.test(document.body.textContent)`)
	}
	b.navigate(f.srv.URL + "/board?tenant=2&names=first")
	f.nextWS()
	b.waitFor("first names", inList("list-preparing", "T2-005")+` && document.querySelectorAll('.tile .name').length === 2`)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.apiQuery {
		if q.Get("tenant_id") != "2" || q.Get("open") != "true" {
			t.Errorf("order list query %v, want tenant_id=2", q)
		}
	}
}

// A board that can no longer reach its server must say so, not look live.
func TestPageShowsReconnecting(t *testing.T) {
	f := newFakeServer(t)
	f.set(1)
	b := startBrowser(t)
	b.navigate(f.srv.URL + "/board")
	f.nextWS()
	b.waitFor("live badge", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	f.srv.CloseClientConnections()
	f.srv.Listener.Close() // nothing answers any more
	f.drop()
	b.waitFor("reconnecting badge", `document.getElementById('conn').className.indexOf('conn-reconnecting') >= 0 && /Reconnecting/.test(document.getElementById('conn-text').textContent)`)
}

// A busy lunch hour: more orders than fit on the screen. The board never
// scrolls and never cuts a tile; it pages through the list, says which page
// it shows, and every order (the newest too) comes round within a cycle.
func TestPageBusy(t *testing.T) {
	f := newFakeServer(t)
	names := []string{"Budi Santoso", "Siti Rahayu", "Agus", "Dewi Lestari", "Rina", "Joko Widodo", "Wati", "Putu Ayu",
		"Made", "Nyoman", "Andi Pratama", "Fitri", "Hendra", "Yusuf", "Lina", "Bambang", "Sri Wahyuni", "Eko", "Maya", "Rudi"}
	var orders []fakeOrder
	var preparing []string
	id := int64(0)
	stamp := time.Now().UTC().Add(-5 * time.Minute).Format(time.RFC3339)
	for i := 0; i < 70; i++ {
		id++
		st := "preparing"
		if i%3 == 0 {
			st = "pending"
		}
		n := fmt.Sprintf("T%d-%03d", i%5+1, 10+i)
		preparing = append(preparing, n)
		orders = append(orders, fakeOrder{ID: id, TenantID: int64(i%5 + 1), OrderNumber: n,
			CustomerName: names[i%len(names)], Status: st, UpdatedAt: stamp})
	}
	for i := 0; i < 7; i++ {
		id++
		orders = append(orders, fakeOrder{ID: id, TenantID: int64(i%5 + 1), OrderNumber: fmt.Sprintf("T%d-%03d", i%5+1, 1+i),
			CustomerName: names[(i+7)%len(names)], Status: "ready", UpdatedAt: stamp})
	}
	f.set(500, orders...)
	b := startBrowser(t)
	b.navigate(f.srv.URL + "/board?page=1")
	f.nextWS()
	b.waitFor("snapshot", inList("list-ready", "T1-001"))
	f.send(statusChanged(501, 2, "T2-011", "preparing", "ready"))
	b.waitFor("fresh ready tile", `!!document.querySelector('#list-ready .tile.fresh')`)
	preparing = slices.DeleteFunc(preparing, func(n string) bool { return n == "T2-011" })

	type view struct {
		Pager    string   `json:"pager"`
		Page     string   `json:"page"`
		Pages    string   `json:"pages"`
		Visible  []string `json:"visible"`
		Count    string   `json:"count"`
		Scrolled bool     `json:"scrolled"`
		Overflow bool     `json:"overflow"`
	}
	look := func() view {
		var v view
		err := b.eval(`(function(){
		  var l = document.getElementById('list-preparing');
		  var vis = Array.from(l.children).filter(function(c){ return !c.hidden; });
		  var lb = l.getBoundingClientRect().bottom;
		  var m = document.getElementById('more-preparing');
		  return {
		    pager: m.hidden ? '' : m.textContent,
		    page: l.dataset.page, pages: l.dataset.pages,
		    visible: vis.map(function(c){ return c.firstChild.textContent; }),
		    count: document.getElementById('count-preparing').textContent,
		    scrolled: document.documentElement.scrollHeight > window.innerHeight,
		    overflow: vis.some(function(c){ return c.getBoundingClientRect().bottom > lb + 1; })
		  };
		})()`, &v)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	seen := map[string]bool{}
	pagesSeen := map[string]bool{}
	// Not seeing them all is reported below, with what was missed.
	testutil.Await(15*time.Second, 150*time.Millisecond, func() bool {
		v := look()
		if v.Count != "69" {
			t.Fatalf("preparing count = %q, want 69", v.Count)
		}
		if v.Overflow || v.Scrolled {
			t.Fatalf("a visible tile is cut off (%v) or the page scrolls (%v)", v.Overflow, v.Scrolled)
		}
		want := fmt.Sprintf("Page %s/%s · Halaman %s/%s", v.Page, v.Pages, v.Page, v.Pages)
		if v.Pages == "1" || v.Pager != want {
			t.Fatalf("pager = %q on page %s of %s, want %q on more than one page", v.Pager, v.Page, v.Pages, want)
		}
		pagesSeen[v.Page] = true
		for _, n := range v.Visible {
			seen[n] = true
		}
		return len(seen) >= len(preparing)
	})
	var missing []string
	for _, n := range preparing {
		if !seen[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Errorf("in 15 s of paging these orders never showed: %q (pages seen %v)", missing, pagesSeen)
	}
	// Ready: newest first, the fresh one leading.
	if s := b.state(); len(s.Ready) != 8 || s.Ready[0] != "T2-011" {
		t.Errorf("ready = %q, want 8 with T2-011 first", s.Ready)
	}
	b.screenshot("fake-busy")
}

// A board whose token is missing or refused must not look like an empty
// kitchen: the whole screen says it is not connected, and no list shows.
func TestPageRefusedIsFullScreen(t *testing.T) {
	f := newFakeServer(t)
	f.set(3, fakeOrder{ID: 4, TenantID: 2, OrderNumber: "T2-004", CustomerName: "Wati", Status: "ready"})
	f.refuse = true
	b := startBrowser(t)
	for _, c := range []struct{ query, why string }{{"", "No token"}, {"?token=wrong", "Token refused"}} {
		b.navigate(f.srv.URL + "/board" + c.query)
		b.waitFor("not connected "+c.query, `(function(){
		  var r = document.getElementById('refused');
		  if (!r || r.hidden) return false;
		  var box = r.getBoundingClientRect();
		  var top = document.elementFromPoint(window.innerWidth/2, window.innerHeight/2);
		  return box.width >= window.innerWidth && box.height >= window.innerHeight && r.contains(top) &&
		    /Not connected/.test(r.textContent) && `+jsString(c.why)+` === document.getElementById('refused-why').textContent.slice(0, `+fmt.Sprint(len(c.why))+`) &&
		    getComputedStyle(document.querySelector('.lists')).visibility === 'hidden';
		})()`)
	}
	b.screenshot("fake-refused")
	// Let in again: the board comes back by itself and the screen clears.
	f.mu.Lock()
	f.refuse = false
	f.mu.Unlock()
	b.navigate(f.srv.URL + "/board?token=good")
	f.nextWS()
	b.waitFor("live, no refusal", `document.getElementById('refused').hidden && getComputedStyle(document.querySelector('.lists')).visibility === 'visible'`+" && "+inList("list-ready", "T2-004"))
}

// A half-open connection (the server gone without a close) looks open to the
// browser. After a quiet spell the board asks for a sign of life; when none
// comes it reconnects on its own and resumes where it was.
func TestPageDetectsSilentServer(t *testing.T) {
	f := newFakeServer(t)
	f.set(7, fakeOrder{ID: 1, TenantID: 1, OrderNumber: "NG-001", CustomerName: "Budi", Status: "ready"})
	b := startBrowser(t)
	b.navigate(f.srv.URL + "/board?heartbeat=1")
	if got := f.nextWS().Get("since"); got != "7" {
		t.Fatalf("since = %q, want 7", got)
	}
	f.send(statusChanged(8, 1, "NG-001", "ready", "completed"))
	b.waitFor("event applied", notInList("list-ready", "NG-001"))
	// The fake never answers the probe: the board must give up on the socket.
	select {
	case msg := <-f.received:
		if !strings.Contains(msg, `"op":"join"`) || !strings.Contains(msg, `"room":"display"`) {
			t.Errorf("probe = %s, want a join of the board's room", msg)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the board never probed a quiet socket")
	}
	if got := f.nextWS().Get("since"); got != "8" {
		t.Errorf("reconnect since = %q, want 8", got)
	}
}
