// Package native is posd's own WebSocket protocol at /ws (docs/protocol.md):
// one JSON object per text frame, rooms by query or join/leave ops, resume
// from the event log with `since`.
package native

import (
	"encoding/json"
	"strconv"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/protocol/wsframe"
)

// Encode renders ev as a complete WebSocket text frame carrying
// {"op":"event","event":NAME,"payload":ENVELOPE}. The hub calls it once per
// broadcast; every receiver's writer sends these bytes as they are.
func Encode(dst []byte, ev *domain.Event) []byte {
	payload := make([]byte, 0, 320+len(ev.Data))
	payload = append(payload, `{"op":"event","event":"`...)
	payload = append(payload, ev.Name...) // our own constant names: no escaping needed
	payload = append(payload, `","payload":`...)
	payload = ev.AppendEnvelope(payload)
	payload = append(payload, '}')
	return appendFrame(dst, payload)
}

// appendFrame appends payload as one text frame.
func appendFrame(dst, payload []byte) []byte { return wsframe.AppendText(dst, payload) }

// Control messages of this connection alone.

func joinedFrame(op, room string) []byte {
	b, _ := json.Marshal(struct {
		Op   string `json:"op"`
		Room string `json:"room"`
	}{op, room})
	return appendFrame(nil, b)
}

type errorMsg struct {
	Op       string `json:"op"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	OldestID int64  `json:"oldest_id,omitempty"`
}

func errorFrame(code, message string, oldest int64) []byte {
	b, _ := json.Marshal(errorMsg{Op: "error", Code: code, Message: message, OldestID: oldest})
	return appendFrame(nil, b)
}

func readyFrame(rooms []string, lastID int64, resumed bool) []byte {
	b, _ := json.Marshal(struct {
		Op      string   `json:"op"`
		Rooms   []string `json:"rooms"`
		LastID  int64    `json:"last_id"`
		Resumed bool     `json:"resumed"`
	}{"ready", rooms, lastID, resumed})
	return appendFrame(nil, b)
}

// resumedFrame acknowledges a resume op; it is written before the first
// replayed event, so a client knows where the replay begins.
func resumedFrame(since int64) []byte {
	return appendFrame(nil, []byte(`{"op":"resumed","since":`+strconv.FormatInt(since, 10)+`}`))
}

// ServerFrame is any server → client frame as a client decodes it: the
// union of the fields of ready, event, joined, left, resumed, pong and
// error (docs/protocol.md). The server writes each frame by hand above,
// once per broadcast and without reflection; clients and tests read them
// all through this one type.
type ServerFrame struct {
	Op       string          `json:"op"`
	Event    string          `json:"event,omitempty"`   // event
	Payload  json.RawMessage `json:"payload,omitempty"` // event: the envelope
	Room     string          `json:"room,omitempty"`    // joined, left
	Rooms    []string        `json:"rooms,omitempty"`   // ready
	LastID   int64           `json:"last_id,omitempty"` // ready
	Resumed  bool            `json:"resumed,omitempty"` // ready
	Since    int64           `json:"since,omitempty"`   // resumed
	Code     string          `json:"code,omitempty"`    // error
	Message  string          `json:"message,omitempty"` // error
	OldestID int64           `json:"oldest_id,omitempty"`
}

// EventID is the id in an event frame's envelope (0 for other frames).
func (f ServerFrame) EventID() int64 {
	var p struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(f.Payload, &p)
	return p.ID
}

// ClientOp is a client → server frame; clients marshal it, the handler
// decodes it with DecodeOp.
type ClientOp struct {
	Op    string `json:"op"`
	Room  string `json:"room,omitempty"`
	Since *int64 `json:"since,omitempty"`
}

// DecodeOp parses one client frame strictly: a JSON object with a known op
// and the fields that op needs.
func DecodeOp(b []byte) (ClientOp, error) {
	var op ClientOp
	if err := json.Unmarshal(b, &op); err != nil {
		return op, domain.Errorf(domain.CodeInvalid, "malformed frame: expected a JSON object like {\"op\":\"join\",\"room\":\"tenant-1\"}")
	}
	switch op.Op {
	case "join", "leave":
		if op.Room == "" {
			return op, domain.Errorf(domain.CodeInvalid, "%s needs a room", op.Op)
		}
	case "resume":
		if op.Since == nil || *op.Since < 0 {
			return op, domain.Errorf(domain.CodeInvalid, "resume needs since ≥ 0 (the last event id you saw)")
		}
	case "ping":
	case "":
		return op, domain.Errorf(domain.CodeInvalid, "frame has no op")
	default:
		return op, domain.Errorf(domain.CodeInvalid, "unknown op %s", strconv.Quote(truncate(op.Op, 32)))
	}
	return op, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
