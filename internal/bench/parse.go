package bench

import (
	"bytes"
)

// The bench parses only what it needs from each frame: the event name and,
// for order:created, data.order_id. It never unmarshals a whole envelope, so
// a delivery costs a couple of bytes.Index scans and no allocation. That
// is why it does not decode into native.ServerFrame as other clients do.

var (
	keyEvent   = []byte(`"event"`)
	keyOp      = []byte(`"op"`)
	keyOrderID = []byte(`"order_id"`)
	evCreated  = []byte("order:created")
)

// frameKind classifies a parsed frame.
type frameKind uint8

const (
	frameOther   frameKind = iota // anything the bench does not account (joined, other events)
	frameCreated                  // order:created with an order id
	frameError                    // {"op":"error",...} or an unparsable order:created
)

// parseNative reads a native /ws frame (docs/protocol.md):
// {"op":"event","event":"order:created","payload":{...,"data":{"order_id":N,...}}}.
func parseNative(b []byte) (frameKind, int64) {
	op, ok := stringField(b, keyOp)
	if !ok {
		return frameError, 0
	}
	switch string(op) { // no allocation: the compiler compares in place
	case "event":
	case "error":
		return frameError, 0
	default:
		return frameOther, 0
	}
	ev, ok := stringField(b, keyEvent)
	if !ok {
		return frameError, 0
	}
	if !bytes.Equal(ev, evCreated) {
		return frameOther, 0
	}
	id, ok := intField(b, keyOrderID)
	if !ok {
		return frameError, 0
	}
	return frameCreated, id
}

// stringField finds "key": "value" and returns value (without unescaping;
// the names the bench looks for contain no escapes).
func stringField(b, key []byte) ([]byte, bool) {
	rest := valueOf(b, key)
	if len(rest) == 0 || rest[0] != '"' {
		return nil, false
	}
	rest = rest[1:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil, false
	}
	return rest[:j], true
}

// intField finds "key": N and returns N (a non-negative JSON integer).
func intField(b, key []byte) (int64, bool) {
	return parseUint(valueOf(b, key))
}

// valueOf returns what follows the first occurrence of key used as an
// object key (followed by a colon), so a string value equal to the key
// ({"op":"event","event":...}) is skipped.
func valueOf(b, key []byte) []byte {
	for {
		i := bytes.Index(b, key)
		if i < 0 {
			return nil
		}
		b = b[i+len(key):]
		if v := skipColon(b); v != nil {
			return v
		}
	}
}

// skipColon skips `\s*:\s*`; nil when b does not start with a colon.
func skipColon(b []byte) []byte {
	b = skipSpace(b)
	if len(b) == 0 || b[0] != ':' {
		return nil
	}
	v := skipSpace(b[1:])
	if v == nil {
		v = b[:0]
	}
	return v
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

func parseUint(b []byte) (int64, bool) {
	var n int64
	k := 0
	for ; k < len(b) && b[k] >= '0' && b[k] <= '9'; k++ {
		if k >= 18 {
			return 0, false
		}
		n = n*10 + int64(b[k]-'0')
	}
	return n, k > 0
}

// Engine.IO v4 packet types (first byte of a text frame) and the Socket.IO v5
// packet types that follow a message ('4').
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioNoop    = '6'

	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioConnectError = '4'
)

// sioPacket is the part of one Engine.IO/Socket.IO text frame the bench uses.
type sioPacket struct {
	eio   byte   // Engine.IO type
	sio   byte   // Socket.IO type when eio == eioMessage
	event []byte // event name for sio == sioEvent on the main namespace
	args  []byte // the rest of the array after the event name (",{...}]")
	data  []byte // payload of open / connect / connect-error packets
}

// parseSIO parses a text frame of Engine.IO v4 carrying Socket.IO v5:
// "2" ping, "0{...}" open, "40{...}" connect, "42[\"ev\",{...}]" event,
// "42/ns,7[...]" event with namespace and ack id, "44{...}" connect error.
// Events on a namespace other than "/" are reported with an empty name.
func parseSIO(b []byte) (sioPacket, bool) {
	var p sioPacket
	if len(b) == 0 {
		return p, false
	}
	p.eio = b[0]
	if p.eio != eioMessage {
		p.data = b[1:]
		return p, true
	}
	if len(b) < 2 {
		return p, false
	}
	p.sio = b[1]
	rest := b[2:]
	nsOther := false
	if len(rest) > 0 && rest[0] == '/' {
		j := bytes.IndexByte(rest, ',')
		if j < 0 { // "40/admin" with nothing after
			nsOther = string(rest) != "/"
			rest = nil
		} else {
			nsOther = string(rest[:j]) != "/"
			rest = rest[j+1:]
		}
	}
	if p.sio != sioEvent {
		p.data = rest
		return p, true
	}
	for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' { // ack id
		rest = rest[1:]
	}
	if len(rest) < 2 || rest[0] != '[' || rest[1] != '"' {
		return p, false
	}
	rest = rest[2:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return p, false
	}
	if !nsOther {
		p.event = rest[:j]
	}
	p.args = rest[j+1:]
	return p, true
}

// parseSIOEvent classifies a Socket.IO event packet like parseNative does a
// native frame.
func parseSIOEvent(p sioPacket) (frameKind, int64) {
	if !bytes.Equal(p.event, evCreated) {
		return frameOther, 0
	}
	id, ok := intField(p.args, keyOrderID)
	if !ok {
		return frameError, 0
	}
	return frameCreated, id
}
