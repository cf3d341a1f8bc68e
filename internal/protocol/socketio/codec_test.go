package socketio

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
)

func TestDecodeEnginePacket(t *testing.T) {
	tests := []struct {
		in      string
		want    enginePacket
		wantErr bool
	}{
		{in: `0{"sid":"x"}`, want: enginePacket{Type: eioOpen, Data: `{"sid":"x"}`}},
		{in: "1", want: enginePacket{Type: eioClose}},
		{in: "2", want: enginePacket{Type: eioPing}},
		{in: "2probe", want: enginePacket{Type: eioPing, Data: "probe"}},
		{in: "3", want: enginePacket{Type: eioPong}},
		{in: "3probe", want: enginePacket{Type: eioPong, Data: "probe"}},
		{in: `42["a"]`, want: enginePacket{Type: eioMessage, Data: `2["a"]`}},
		{in: "4", want: enginePacket{Type: eioMessage}},
		{in: "5", want: enginePacket{Type: eioUpgrade}},
		{in: "6", want: enginePacket{Type: eioNoop}},
		{in: "bAQID", want: enginePacket{Type: eioMessage, Data: "\x01\x02\x03", Binary: true}},
		{in: "b", want: enginePacket{Type: eioMessage, Binary: true}},
		{in: "", wantErr: true},
		{in: "7", wantErr: true},
		{in: "x", wantErr: true},
		{in: "/", wantErr: true},
		{in: "b!!!", wantErr: true},
	}
	for _, tt := range tests {
		got, err := decodeEnginePacket(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("decodeEnginePacket(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("decodeEnginePacket(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if err == nil {
			if back := string(appendEnginePacket(nil, got)); back != tt.in {
				t.Errorf("appendEnginePacket(%+v) = %q, want %q", got, back, tt.in)
			}
		}
	}
}

func TestDecodePayload(t *testing.T) {
	got, err := decodePayload("40\x1e42[\"join-display\"]\x1e3\x1ebAA==")
	if err != nil {
		t.Fatal(err)
	}
	want := []enginePacket{
		{Type: eioMessage, Data: "0"},
		{Type: eioMessage, Data: `2["join-display"]`},
		{Type: eioPong},
		{Type: eioMessage, Data: "\x00", Binary: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", "\x1e", "40\x1e", "\x1e40", "40\x1e9"} {
		if _, err := decodePayload(bad); err == nil {
			t.Errorf("decodePayload(%q) succeeded, want error", bad)
		}
	}
	if got, want := string(appendPayload(nil, [][]byte{[]byte("2"), []byte(`42["a"]`)})), "2\x1e42[\"a\"]"; got != want {
		t.Errorf("appendPayload = %q, want %q", got, want)
	}
}

func TestDecodeSIOPacket(t *testing.T) {
	tests := []struct {
		in      string
		want    sioPacket
		wantErr bool
	}{
		{in: "0", want: sioPacket{Type: sioConnect, Nsp: "/", ID: noAck}},
		{in: `0{"token":"abc"}`, want: sioPacket{Type: sioConnect, Nsp: "/", ID: noAck, Data: json.RawMessage(`{"token":"abc"}`)}},
		{in: `0/admin,{"token":"abc"}`, want: sioPacket{Type: sioConnect, Nsp: "/admin", ID: noAck, Data: json.RawMessage(`{"token":"abc"}`)}},
		{in: "0/admin", want: sioPacket{Type: sioConnect, Nsp: "/admin", ID: noAck}},
		{in: "1", want: sioPacket{Type: sioDisconnect, Nsp: "/", ID: noAck}},
		{in: "1/admin,", want: sioPacket{Type: sioDisconnect, Nsp: "/admin", ID: noAck}},
		{in: `2["join-tenant",1]`, want: sioPacket{Type: sioEvent, Nsp: "/", ID: noAck, Data: json.RawMessage(`["join-tenant",1]`)}},
		{in: `212["join-tenant","1"]`, want: sioPacket{Type: sioEvent, Nsp: "/", ID: 12, Data: json.RawMessage(`["join-tenant","1"]`)}},
		{in: `2/admin,7["x"]`, want: sioPacket{Type: sioEvent, Nsp: "/admin", ID: 7, Data: json.RawMessage(`["x"]`)}},
		{in: `2[42]`, want: sioPacket{Type: sioEvent, Nsp: "/", ID: noAck, Data: json.RawMessage(`[42]`)}},
		{in: `30[{"ok":true}]`, want: sioPacket{Type: sioAck, Nsp: "/", ID: 0, Data: json.RawMessage(`[{"ok":true}]`)}},
		{in: `4{"message":"no"}`, want: sioPacket{Type: sioConnectError, Nsp: "/", ID: noAck, Data: json.RawMessage(`{"message":"no"}`)}},
		{in: `4"no"`, want: sioPacket{Type: sioConnectError, Nsp: "/", ID: noAck, Data: json.RawMessage(`"no"`)}},
		{in: `51-["up",{"_placeholder":true,"num":0}]`, want: sioPacket{Type: sioBinaryEvent, Attachments: 1, Nsp: "/", ID: noAck, Data: json.RawMessage(`["up",{"_placeholder":true,"num":0}]`)}},
		{in: `52-/admin,3["up",{},{}]`, want: sioPacket{Type: sioBinaryEvent, Attachments: 2, Nsp: "/admin", ID: 3, Data: json.RawMessage(`["up",{},{}]`)}},
		{in: `61-4[{"_placeholder":true,"num":0}]`, want: sioPacket{Type: sioBinaryAck, Attachments: 1, Nsp: "/", ID: 4, Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`)}},

		{in: "", wantErr: true},
		{in: "7", wantErr: true},
		{in: "a", wantErr: true},
		{in: `0"str"`, wantErr: true},                 // CONNECT data must be an object
		{in: `0[1]`, wantErr: true},                   // ... not an array
		{in: `1{}`, wantErr: true},                    // DISCONNECT carries nothing
		{in: `2`, wantErr: true},                      // EVENT needs args
		{in: `2[]`, wantErr: true},                    // ... and a name
		{in: `2{"a":1}`, wantErr: true},               // ... in an array
		{in: `2[null]`, wantErr: true},                // ... that is a string or number
		{in: `2["connect"]`, wantErr: true},           // reserved
		{in: `2["disconnect",1]`, wantErr: true},      // reserved
		{in: `2["a"`, wantErr: true},                  // bad JSON
		{in: `2["a"]x`, wantErr: true},                // trailing garbage
		{in: `3`, wantErr: true},                      // ACK needs an array
		{in: `3{}`, wantErr: true},                    //
		{in: `4`, wantErr: true},                      // CONNECT_ERROR needs a message
		{in: `4[1]`, wantErr: true},                   //
		{in: `5["a"]`, wantErr: true},                 // attachments missing
		{in: `5-["a"]`, wantErr: true},                //
		{in: `51["a"]`, wantErr: true},                // no dash
		{in: `5x-["a"]`, wantErr: true},               //
		{in: `51-`, wantErr: true},                    // no payload
		{in: `21234567890123456["a"]`, wantErr: true}, // ack id too long
	}
	for _, tt := range tests {
		got, err := decodeSIOPacket(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("decodeSIOPacket(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got.Type != tt.want.Type || got.Attachments != tt.want.Attachments || got.Nsp != tt.want.Nsp ||
			got.ID != tt.want.ID || string(got.Data) != string(tt.want.Data) {
			t.Errorf("decodeSIOPacket(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		back := string(appendSIOPacket(nil, got))
		if strings.TrimSuffix(back[1:], ",") != strings.TrimSuffix(tt.in, ",") {
			t.Errorf("appendSIOPacket(%+v) = %q, want 4%s", got, back, tt.in)
		}
	}
}

func TestServerPackets(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"connect", connectPacket("s1", "p1"), `40{"sid":"s1","pid":"p1"}`},
		{"connect error", connectErrorPacket("/", "bad token", map[string]string{"code": "unauthorized"}), `44{"message":"bad token","data":{"code":"unauthorized"}}`},
		{"connect error nsp", connectErrorPacket("/admin", "Invalid namespace", nil), `44/admin,{"message":"Invalid namespace"}`},
		{"event", eventPacket("error", errorBody{"forbidden", "no"}), `42["error",{"code":"forbidden","message":"no"}]`},
		{"ack ok", ackPacket(3, ackOK{OK: true, Room: "tenant-1"}), `433[{"ok":true,"room":"tenant-1"}]`},
		{"ack error", ackPacket(0, ackError{errorBody{"invalid", "x"}}), `430[{"error":{"code":"invalid","message":"x"}}]`},
		{"disconnect", disconnectPacket(), `41`},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestEncode(t *testing.T) {
	ts := time.Date(2025, 2, 3, 10, 0, 0, 0, time.UTC)
	ev := domain.NewEvent(domain.EventOrderCreated, "order_created", ts,
		domain.OrderCreatedData{OrderID: 1, OrderNumber: "T1-001", CustomerName: "John Doe", TotalAmount: 50000, ItemsCount: 3, Status: "pending"},
		"tenant-1", "display")
	ev.ID = 1042
	want := `42["order:created",{"id":1042,"type":"order_created","timestamp":"2025-02-03T10:00:00Z","data":{"order_id":1,"order_number":"T1-001","customer_name":"John Doe","total_amount":50000,"items_count":3,"status":"pending"}},"1042"]`
	if got := string(Encode(nil, &ev)); got != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
	alert := domain.Event{ID: 7, Name: domain.EventAlert, Type: domain.TypeSystemAlert, Severity: "warning", Message: `Maintenance "soon"`, Timestamp: ts, Rooms: []string{domain.RoomAll}}
	want = `42["alert",{"id":7,"type":"system_alert","severity":"warning","message":"Maintenance \"soon\"","timestamp":"2025-02-03T10:00:00Z"},"7"]`
	if got := string(Encode([]byte("x"), &alert)); got != "x"+want {
		t.Errorf("Encode alert =\n%s\nwant\nx%s", got, want)
	}
	// What a client decodes from it is an EVENT with the envelope and offset.
	p, err := decodeSIOPacket(string(Encode(nil, &ev))[1:])
	if err != nil {
		t.Fatal(err)
	}
	var args []json.RawMessage
	if err := json.Unmarshal(p.Data, &args); err != nil || len(args) != 3 || string(args[2]) != `"1042"` {
		t.Fatalf("decoded args %s (%v)", p.Data, err)
	}
}

func TestRoomFromArgs(t *testing.T) {
	tests := []struct {
		kind, args string
		want       string
		wantErr    bool
	}{
		{"tenant", `[1]`, "tenant-1", false},
		{"tenant", `["12"]`, "tenant-12", false},
		{"kasir", `[3, "extra"]`, "kasir-3", false},
		{"user", `[7]`, "user-7", false},
		{"display", `[]`, "display", false},
		{"", `["tenant-4"]`, "tenant-4", false},
		{"tenant", `[]`, "", true},
		{"tenant", `[0]`, "", true},
		{"tenant", `[-1]`, "", true},
		{"tenant", `[1.5]`, "", true},
		{"tenant", `[1e3]`, "", true},
		{"tenant", `["01"]`, "", true},
		{"tenant", `["x"]`, "", true},
		{"tenant", `[null]`, "", true},
		{"tenant", `[{"id":1}]`, "", true},
		{"shop", `[1]`, "", true},
		{"", `[1]`, "", true},
	}
	for _, tt := range tests {
		var args []json.RawMessage
		if err := json.Unmarshal([]byte(tt.args), &args); err != nil {
			t.Fatal(err)
		}
		got, err := roomFromArgs(tt.kind, args)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("roomFromArgs(%q, %s) = %q, %v; want %q, error %v", tt.kind, tt.args, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseConnectAuth(t *testing.T) {
	tests := []struct {
		in   string
		want connectAuth
	}{
		{``, connectAuth{}},
		{`{}`, connectAuth{}},
		{`{"token":"t"}`, connectAuth{Token: "t"}},
		{`{"token":"t","pid":"p","offset":"12"}`, connectAuth{Token: "t", PID: "p", Offset: "12"}},
		{`{"token":5,"pid":null,"offset":12}`, connectAuth{}},
	}
	for _, tt := range tests {
		var raw json.RawMessage
		if tt.in != "" {
			raw = json.RawMessage(tt.in)
		}
		if got := parseConnectAuth(raw); got != tt.want {
			t.Errorf("parseConnectAuth(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// FuzzDecodeEngine checks the Engine.IO payload decoder never panics and
// that what it accepts re-encodes to an equivalent payload.
func FuzzDecodeEngine(f *testing.F) {
	for _, s := range []string{"0{}", "2probe", "3", "40", "42[\"a\"]\x1e3", "bAQID", "6", "\x1e", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		packets, err := decodePayload(in)
		if err != nil {
			return
		}
		var enc [][]byte
		for _, p := range packets {
			enc = append(enc, appendEnginePacket(nil, p))
		}
		again, err := decodePayload(string(appendPayload(nil, enc)))
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if len(again) != len(packets) {
			t.Fatalf("round trip: %d packets, want %d", len(again), len(packets))
		}
		for i := range again {
			if again[i] != packets[i] {
				t.Fatalf("round trip packet %d: %+v, want %+v", i, again[i], packets[i])
			}
		}
	})
}

// FuzzDecodeSocketIO checks the Socket.IO decoder never panics, that what it
// accepts re-encodes to a packet that decodes the same, and that room
// arguments of accepted events are handled.
func FuzzDecodeSocketIO(f *testing.F) {
	for _, s := range []string{"0", `0{"token":"x"}`, `0/admin,{}`, "1", `21["join-tenant",1]`, `2["join-kasir","3"]`,
		`30[{}]`, `4{"message":"m"}`, `51-["a",{"_placeholder":true,"num":0}]`, `62-/x,1[{},{}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := decodeSIOPacket(in)
		if err != nil {
			return
		}
		back := appendSIOPacket(nil, p)
		q, err := decodeSIOPacket(string(back[1:]))
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", back, err)
		}
		if q.Type != p.Type || q.Attachments != p.Attachments || q.Nsp != p.Nsp || q.ID != p.ID || string(q.Data) != string(p.Data) {
			t.Fatalf("round trip %q: %+v, want %+v", in, q, p)
		}
		if p.Type == sioEvent {
			var args []json.RawMessage
			if json.Unmarshal(p.Data, &args) == nil && len(args) > 0 {
				_, _ = roomFromArgs("tenant", args[1:])
				_, _ = roomFromArgs("", args[1:])
			}
		}
		_ = parseConnectAuth(p.Data)
	})
}

// decodePayload collects what eachPacket decodes, for the codec tests.
func decodePayload(body string) ([]enginePacket, error) {
	var out []enginePacket
	err := eachPacket(body, func(p enginePacket) bool {
		out = append(out, p)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
