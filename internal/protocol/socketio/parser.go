package socketio

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/posd/posd/internal/domain"
)

// Socket.IO v5 packet types (https://socket.io/docs/v4/socket-io-protocol/).
const (
	sioConnect      byte = '0'
	sioDisconnect   byte = '1'
	sioEvent        byte = '2'
	sioAck          byte = '3'
	sioConnectError byte = '4'
	sioBinaryEvent  byte = '5'
	sioBinaryAck    byte = '6'
)

const mainNamespace = "/"

// noAck is the ID of a packet that asks for no acknowledgement.
const noAck int64 = -1

// maxAckDigits keeps ack ids within what a JavaScript number holds exactly.
const maxAckDigits = 15

// sioPacket is one decoded Socket.IO packet (the payload of an Engine.IO
// message packet).
type sioPacket struct {
	Type        byte
	Attachments int // binary packets only
	Nsp         string
	ID          int64 // noAck when absent
	Data        json.RawMessage
}

var (
	errSIOEmpty       = errors.New("empty socket.io packet")
	errSIOType        = errors.New("unknown socket.io packet type")
	errSIOAttachments = errors.New("illegal attachments")
	errSIOAckID       = errors.New("ack id too long")
	errSIOPayload     = errors.New("invalid payload")
)

// reservedEvents may not be emitted by a peer (socket.io-parser's list).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// decodeSIOPacket parses s as socket.io-parser does, and validates the
// payload per packet type the same way.
func decodeSIOPacket(s string) (sioPacket, error) {
	if s == "" {
		return sioPacket{}, errSIOEmpty
	}
	p := sioPacket{Type: s[0], Nsp: mainNamespace, ID: noAck}
	if p.Type < sioConnect || p.Type > sioBinaryAck {
		return sioPacket{}, errSIOType
	}
	i := 1
	if p.Type == sioBinaryEvent || p.Type == sioBinaryAck {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start || i >= len(s) || s[i] != '-' || i-start > 6 {
			return sioPacket{}, errSIOAttachments
		}
		n, _ := strconv.Atoi(s[start:i])
		p.Attachments = n
		i++
	}
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		p.Nsp = s[start:i]
		if i < len(s) {
			i++ // the comma
		}
	}
	if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i-start > maxAckDigits {
			return sioPacket{}, errSIOAckID
		}
		p.ID, _ = strconv.ParseInt(s[start:i], 10, 64)
	}
	if i < len(s) {
		p.Data = json.RawMessage(s[i:])
		if !json.Valid(p.Data) {
			return sioPacket{}, errSIOPayload
		}
	}
	if !payloadValid(&p) {
		return sioPacket{}, errSIOPayload
	}
	return p, nil
}

func payloadValid(p *sioPacket) bool {
	switch p.Type {
	case sioConnect:
		return p.Data == nil || jsonKind(p.Data) == '{'
	case sioDisconnect:
		return p.Data == nil
	case sioConnectError:
		k := jsonKind(p.Data)
		return k == '{' || k == '"'
	case sioEvent, sioBinaryEvent:
		var args []json.RawMessage
		if jsonKind(p.Data) != '[' || json.Unmarshal(p.Data, &args) != nil || len(args) == 0 {
			return false
		}
		switch jsonKind(args[0]) {
		case '"':
			var name string
			if json.Unmarshal(args[0], &name) != nil {
				return false
			}
			return !reservedEvents[name]
		case '0': // numbers are legal event names in socket.io-parser
			return true
		}
		return false
	case sioAck, sioBinaryAck:
		return jsonKind(p.Data) == '['
	}
	return false
}

// jsonKind reports the first significant byte of a valid JSON value ('0' for
// any number), or 0 for nil.
func jsonKind(v json.RawMessage) byte {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return '0'
		}
		return c
	}
	return 0
}

// appendSIOPacket appends p as an Engine.IO message packet ("4" + Socket.IO
// text), ready to be written to either transport.
func appendSIOPacket(dst []byte, p sioPacket) []byte {
	dst = append(dst, eioMessage, p.Type)
	if p.Type == sioBinaryEvent || p.Type == sioBinaryAck {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Nsp != "" && p.Nsp != mainNamespace {
		dst = append(dst, p.Nsp...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// Encode renders ev as the Engine.IO message carrying the Socket.IO EVENT
// packet `42["<name>",<envelope>,"<id>"]`. The trailing string is the offset
// socket.io-client keeps for connection-state recovery. It has the
// hub.Encoder signature and runs once per event for all Socket.IO clients.
func Encode(dst []byte, ev *domain.Event) []byte {
	dst = append(dst, eioMessage, sioEvent, '[')
	dst = appendJSONString(dst, ev.Name)
	dst = append(dst, ',')
	dst = ev.AppendEnvelope(dst)
	dst = append(dst, ',', '"')
	dst = strconv.AppendInt(dst, ev.ID, 10)
	return append(dst, '"', ']')
}

// eventPacket renders an EVENT packet with JSON args, as an Engine.IO message.
func eventPacket(name string, args ...any) []byte {
	b := []byte{eioMessage, sioEvent, '['}
	b = appendJSONString(b, name)
	for _, a := range args {
		raw, err := json.Marshal(a)
		if err != nil {
			raw = []byte("null")
		}
		b = append(b, ',')
		b = append(b, raw...)
	}
	return append(b, ']')
}

// ackPacket renders the ACK of id with one JSON argument.
func ackPacket(id int64, arg any) []byte {
	raw, err := json.Marshal(arg)
	if err != nil {
		raw = []byte("null")
	}
	data := make([]byte, 0, len(raw)+2)
	data = append(data, '[')
	data = append(data, raw...)
	data = append(data, ']')
	return appendSIOPacket(nil, sioPacket{Type: sioAck, Nsp: mainNamespace, ID: id, Data: data})
}

// connectErrorPacket renders CONNECT_ERROR for nsp; socket.io-client surfaces
// message as the connect_error's Error message and data as err.data.
func connectErrorPacket(nsp, message string, data any) []byte {
	body := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{message, data}
	raw, _ := json.Marshal(body)
	return appendSIOPacket(nil, sioPacket{Type: sioConnectError, Nsp: nsp, ID: noAck, Data: raw})
}

// connectPacket renders the CONNECT reply with the socket id and the private
// session id used for connection-state recovery.
func connectPacket(sid, pid string) []byte {
	raw, _ := json.Marshal(struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}{sid, pid})
	return appendSIOPacket(nil, sioPacket{Type: sioConnect, Nsp: mainNamespace, ID: noAck, Data: raw})
}

// disconnectPacket renders a server-side DISCONNECT of the main namespace.
func disconnectPacket() []byte { return []byte{eioMessage, sioDisconnect} }

func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
