package wsframe

import "encoding/binary"

// AppendText appends an unmasked, final text frame holding payload (a
// server frame: servers do not mask).
func AppendText(dst, payload []byte) []byte {
	return append(AppendTextHeader(dst, len(payload)), payload...)
}

// AppendTextHeader appends the header of a text frame of n payload bytes
// (TextHeaderLen(n) bytes), for writers that send the payload beside it.
func AppendTextHeader(dst []byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, 0x80|OpText, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|OpText, 126)
		return binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|OpText, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// TextHeaderLen is the size of a text frame's header for n payload bytes.
func TextHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// AppendControl appends an unmasked control frame (close, ping, pong);
// payload is at most 125 bytes (longer is cut: a close reason is text).
func AppendControl(dst []byte, op byte, payload []byte) []byte {
	payload = payload[:min(len(payload), 125)]
	dst = append(dst, 0x80|op, byte(len(payload)))
	return append(dst, payload...)
}

// Close is a close frame with code and reason.
func Close(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return AppendControl(nil, OpClose, append(p, reason...))
}
