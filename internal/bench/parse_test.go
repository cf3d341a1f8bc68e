package bench

import (
	"testing"
)

func TestParseNative(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		kind  frameKind
		id    int64
	}{
		{"created", `{"op":"event","event":"order:created","payload":{"id":1042,"type":"order_created","timestamp":"2025-02-03T10:00:00Z","data":{"order_id":77,"order_number":"T1-001","customer_name":"a","total_amount":15000,"items_count":1,"status":"pending"}}}`, frameCreated, 77},
		{"spaces", `{ "op" : "event", "event" : "order:created", "payload": {"data": {"order_id" : 5}}}`, frameCreated, 5},
		{"other event", `{"op":"event","event":"order:status_changed","payload":{"data":{"order_id":77}}}`, frameOther, 0},
		{"joined", `{"op":"joined","room":"tenant-1"}`, frameOther, 0},
		{"error", `{"op":"error","code":"forbidden","message":"no"}`, frameError, 0},
		{"created without id", `{"op":"event","event":"order:created","payload":{"data":{}}}`, frameError, 0},
		{"not json", `hello`, frameError, 0},
		{"id not a number", `{"op":"event","event":"order:created","payload":{"data":{"order_id":"x"}}}`, frameError, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, id := parseNative([]byte(tt.frame))
			if kind != tt.kind || id != tt.id {
				t.Errorf("parseNative = (%d, %d), want (%d, %d)", kind, id, tt.kind, tt.id)
			}
		})
	}
}

func TestParseSIO(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		ok    bool
		eio   byte
		sio   byte
		event string
		data  string
	}{
		{"open", `0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`, true, eioOpen, 0, "", `{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
		{"ping", `2`, true, eioPing, 0, "", ""},
		{"noop", `6`, true, eioNoop, 0, "", ""},
		{"close", `1`, true, eioClose, 0, "", ""},
		{"connect ack", `40{"sid":"xyz"}`, true, eioMessage, sioConnect, "", `{"sid":"xyz"}`},
		{"connect error", `44{"message":"unauthorized"}`, true, eioMessage, sioConnectError, "", `{"message":"unauthorized"}`},
		{"event", `42["order:created",{"type":"order_created","data":{"order_id":9}}]`, true, eioMessage, sioEvent, "order:created", ""},
		{"event with ack id", `4217["order:created",{}]`, true, eioMessage, sioEvent, "order:created", ""},
		{"event on main namespace spelled out", `42/,["order:created",{}]`, true, eioMessage, sioEvent, "order:created", ""},
		{"event on other namespace", `42/admin,["order:created",{}]`, true, eioMessage, sioEvent, "", ""},
		{"disconnect", `41`, true, eioMessage, sioDisconnect, "", ""},
		{"empty", ``, false, 0, 0, "", ""},
		{"message without type", `4`, false, eioMessage, 0, "", ""},
		{"event without array", `42"x"`, false, eioMessage, sioEvent, "", ""},
		{"event unterminated name", `42["order:crea`, false, eioMessage, sioEvent, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := parseSIO([]byte(tt.frame))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if p.eio != tt.eio || p.sio != tt.sio || string(p.event) != tt.event {
				t.Errorf("got eio %q sio %q event %q, want %q %q %q", p.eio, p.sio, p.event, tt.eio, tt.sio, tt.event)
			}
			if tt.data != "" && string(p.data) != tt.data {
				t.Errorf("data = %q, want %q", p.data, tt.data)
			}
		})
	}
}

func TestParseSIOEvent(t *testing.T) {
	tests := []struct {
		frame string
		kind  frameKind
		id    int64
	}{
		{`42["order:created",{"type":"order_created","timestamp":"2025-02-03T10:00:00.000Z","data":{"order_id":123,"order_number":"T1-001"}}]`, frameCreated, 123},
		{`42["order:created",{"id":99,"type":"order_created","data":{"order_id":124}}]`, frameCreated, 124},
		{`42["order:status_changed",{"data":{"order_id":1}}]`, frameOther, 0},
		{`42["alert",{"type":"system_alert","severity":"info","message":"x"}]`, frameOther, 0},
		{`42["order:created",{"data":{}}]`, frameError, 0},
	}
	for _, tt := range tests {
		p, ok := parseSIO([]byte(tt.frame))
		if !ok {
			t.Fatalf("parseSIO(%s) failed", tt.frame)
		}
		kind, id := parseSIOEvent(p)
		if kind != tt.kind || id != tt.id {
			t.Errorf("%s: got (%d, %d), want (%d, %d)", tt.frame, kind, id, tt.kind, tt.id)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	native := []byte(`{"op":"event","event":"order:created","payload":{"id":1042,"type":"order_created","data":{"order_id":77}}}`)
	sio := []byte(`42["order:created",{"type":"order_created","data":{"order_id":77}}]`)
	n := testing.AllocsPerRun(100, func() {
		parseNative(native)
		p, _ := parseSIO(sio)
		parseSIOEvent(p)
	})
	if n != 0 {
		t.Errorf("parsing allocates %.1f times per frame, want 0", n)
	}
}

func BenchmarkParseSIO(b *testing.B) {
	frame := []byte(`42["order:created",{"type":"order_created","timestamp":"2025-02-03T10:00:00.000Z","data":{"order_id":123456,"order_number":"T1-001","customer_name":"bench 17","total_amount":15000,"items_count":1,"status":"pending"}}]`)
	b.ReportAllocs()
	for b.Loop() {
		p, _ := parseSIO(frame)
		if k, _ := parseSIOEvent(p); k != frameCreated {
			b.Fatal("not parsed")
		}
	}
}
