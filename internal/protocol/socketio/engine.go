package socketio

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Engine.IO v4 packet types (https://socket.io/docs/v4/engine-io-protocol/).
const (
	eioOpen    byte = '0'
	eioClose   byte = '1'
	eioPing    byte = '2'
	eioPong    byte = '3'
	eioMessage byte = '4'
	eioUpgrade byte = '5'
	eioNoop    byte = '6'
)

// recordSeparator joins packets in one HTTP long-polling payload.
const recordSeparator = '\x1e'

// enginePacket is one decoded Engine.IO packet. Binary is set for a binary
// message (a raw WebSocket binary frame, or a "b"-prefixed base64 packet in
// a polling payload); posd never sends binary and refuses what it receives.
type enginePacket struct {
	Type   byte
	Data   string
	Binary bool
}

var (
	errEmptyPacket  = errors.New("empty engine.io packet")
	errPacketType   = errors.New("unknown engine.io packet type")
	errBinaryBase64 = errors.New("malformed base64 in binary engine.io packet")
)

// decodeEnginePacket parses one text packet as it appears in a WebSocket text
// frame or between record separators of a polling payload.
func decodeEnginePacket(s string) (enginePacket, error) {
	if s == "" {
		return enginePacket{}, errEmptyPacket
	}
	if s[0] == 'b' {
		raw, err := base64.StdEncoding.DecodeString(s[1:])
		if err != nil {
			return enginePacket{}, errBinaryBase64
		}
		return enginePacket{Type: eioMessage, Data: string(raw), Binary: true}, nil
	}
	if s[0] < eioOpen || s[0] > eioNoop {
		return enginePacket{}, errPacketType
	}
	return enginePacket{Type: s[0], Data: s[1:]}, nil
}

// eachPacket decodes a polling request body one packet at a time and hands
// each to fn until fn returns false. A body of a million one-byte packets
// costs no slice of a million decoded packets: the server only ever holds
// the body and the packet in hand. Packets before a malformed one have been
// handled when the error is returned, as the reference server does.
func eachPacket(body string, fn func(enginePacket) bool) error {
	if body == "" {
		return errEmptyPacket
	}
	for part := range strings.SplitSeq(body, string(recordSeparator)) {
		p, err := decodeEnginePacket(part)
		if err != nil {
			return err
		}
		if !fn(p) {
			return nil
		}
	}
	return nil
}

// appendEnginePacket appends the text form of p (binary as "b"+base64).
func appendEnginePacket(dst []byte, p enginePacket) []byte {
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, []byte(p.Data))
	}
	dst = append(dst, p.Type)
	return append(dst, p.Data...)
}

// appendPayload joins already encoded packets with the record separator.
func appendPayload(dst []byte, packets [][]byte) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		dst = append(dst, p...)
	}
	return dst
}

// Engine.IO error codes and messages, as the reference server sends them in
// a JSON body with HTTP 400 (403 for Forbidden).
type engineError struct {
	Code    int
	Message string
	Status  int
}

var (
	errUnknownTransport   = engineError{0, "Transport unknown", 400}
	errUnknownSID         = engineError{1, "Session ID unknown", 400}
	errBadHandshakeMethod = engineError{2, "Bad handshake method", 400}
	errBadRequest         = engineError{3, "Bad request", 400}
	errForbidden          = engineError{4, "Forbidden", 403}
	errUnsupportedVersion = engineError{5, "Unsupported protocol version", 400}
)
