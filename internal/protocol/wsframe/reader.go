// Package wsframe is the WebSocket framing (RFC 6455 §5) both socket
// protocols share once gorilla/websocket has done the upgrade: a reader of
// client frames that holds no buffer and parks shallow while the socket is
// idle, and server frame encoding. wsconn runs a connection with them.
package wsframe

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
)

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

var (
	// ErrWait: no complete frame is buffered and the socket has been read
	// since it was last reported readable; wait for it again.
	ErrWait = errors.New("wait for the socket")
	// ErrTooLarge: a message exceeds the read limit (close 1009).
	ErrTooLarge = errors.New("message exceeds the read limit")
	// ErrProtocol: the peer broke RFC 6455 (close 1002).
	ErrProtocol = errors.New("websocket protocol error")
)

// readBufSize is the chunk a reader borrows while bytes are waiting. Client
// frames are small (ops, pongs); a larger frame gets a buffer of its own.
const readBufSize = 2 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// Reader reads a client's frames straight off the socket (gorilla's reader
// is not used after the upgrade). It exists for memory: an idle connection
// holds no read buffer (one is borrowed from a pool only while bytes are
// waiting), and with Serve its goroutine parks a few frames deep and keeps
// the minimum stack. With thousands of idle screens connected, the reader's
// stack and buffer were most of what a connection cost.
type Reader struct {
	nc    net.Conn
	limit int64
	// wait parks until the socket is readable without reading from it.
	// Without one (TLS, tests' pipes) Read itself parks, deeper.
	wait  func() error
	ready bool // wait has returned since the last Read

	// store holds the unparsed bytes store[off:end]: borrowed from
	// readBufs (pooled) or, for a frame larger than that, its own.
	store    []byte
	pooled   *[]byte
	off, end int

	msg   []byte // fragments of a message being assembled
	msgOp byte
	inMsg bool
}

// NewReader reads nc's client frames; a message larger than limit bytes is
// refused with ErrTooLarge before any of it is buffered.
func NewReader(nc net.Conn, limit int64) *Reader {
	return &Reader{nc: nc, limit: limit, wait: readableWaiter(nc)}
}

// Serve calls handle, which takes what is buffered with Next until
// ErrWait, each time the socket is readable (and first if bytes are
// already buffered), until handle returns false or the wait fails (read
// deadline, closed socket). handle runs on a short-lived goroutine of its
// own: the serving goroutine, which lives as long as the connection, only
// ever parks a few frames deep, so however deep a message's handling goes
// (a join reaches auth and the hub) an idle connection keeps the runtime's
// minimum stack, not a grown one.
func (r *Reader) Serve(handle func() bool) {
	var done chan bool
	buffered := r.off < r.end // what earlier reads (an upgrade probe) left
	for {
		if !buffered && r.WaitReadable() != nil {
			return
		}
		buffered = false
		if done == nil {
			done = make(chan bool, 1) // not before the client first speaks
		}
		go func() { done <- handle() }()
		if !<-done {
			return
		}
	}
}

// WaitReadable parks until the socket has bytes (or an error, or the read
// deadline). Call it when Next reports ErrWait.
func (r *Reader) WaitReadable() error {
	if r.wait != nil {
		if err := r.wait(); err != nil {
			return err
		}
	}
	r.ready = true
	return nil
}

// Next returns the next complete message (text or binary, fragments joined)
// or control frame, unmasked. payload is valid until the next call. It
// reads from the socket at most once per WaitReadable and returns ErrWait
// when it needs to wait again.
func (r *Reader) Next() (op byte, payload []byte, err error) {
	for {
		fin, op, payload, err := r.parse()
		switch {
		case err == errIncompleteFrame:
			if !r.ready {
				r.release()
				return 0, nil, ErrWait
			}
			if err := r.fill(); err != nil {
				return 0, nil, err
			}
			continue
		case err != nil:
			return 0, nil, err
		}
		switch op {
		case OpClose, OpPing, OpPong:
			return op, payload, nil
		case OpText, OpBinary:
			if r.inMsg {
				return 0, nil, ErrProtocol // a new message inside a fragmented one
			}
			if fin {
				return op, payload, nil
			}
			r.inMsg, r.msgOp, r.msg = true, op, append(r.msg[:0], payload...)
		case OpContinuation:
			if !r.inMsg {
				return 0, nil, ErrProtocol
			}
			if int64(len(r.msg)+len(payload)) > r.limit {
				return 0, nil, ErrTooLarge
			}
			r.msg = append(r.msg, payload...)
			if fin {
				m := r.msg
				r.inMsg, r.msg = false, nil // the assembled message is the caller's now
				return r.msgOp, m, nil
			}
		default:
			return 0, nil, ErrProtocol
		}
	}
}

var errIncompleteFrame = errors.New("incomplete frame")

// parse takes one frame off the front of the buffer, unmasking it in place.
func (r *Reader) parse() (fin bool, op byte, payload []byte, err error) {
	b := r.store[r.off:r.end]
	if len(b) < 2 {
		return false, 0, nil, errIncompleteFrame
	}
	fin, op = b[0]&0x80 != 0, b[0]&0x0f
	if b[0]&0x70 != 0 || b[1]&0x80 == 0 {
		return false, 0, nil, ErrProtocol // extension bits, or an unmasked client frame
	}
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return false, 0, nil, errIncompleteFrame
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return false, 0, nil, errIncompleteFrame
		}
		n, h = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if op >= OpClose && (n > 125 || !fin) {
		return false, 0, nil, ErrProtocol // control frames are short and whole
	}
	if n > uint64(r.limit) {
		return false, 0, nil, ErrTooLarge // before buffering any of it
	}
	need := h + 4 + int(n)
	if len(b) < need {
		r.reserve(need)
		return false, 0, nil, errIncompleteFrame
	}
	mask := b[h : h+4]
	payload = b[h+4 : need]
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
	r.off += need
	return fin, op, payload, nil
}

// reserve makes room for a frame of need bytes at the front of the buffer.
func (r *Reader) reserve(need int) {
	if r.off+need <= len(r.store) {
		return
	}
	if need <= len(r.store) {
		r.end = copy(r.store, r.store[r.off:r.end])
		r.off = 0
		return
	}
	nb := make([]byte, need)
	n := copy(nb, r.store[r.off:r.end])
	r.drop()
	r.store, r.end = nb, n
}

// fill reads what the socket has after what is buffered.
func (r *Reader) fill() error {
	if r.store == nil {
		r.pooled = readBufs.Get().(*[]byte)
		r.store = *r.pooled
	}
	if r.end == len(r.store) {
		r.end = copy(r.store, r.store[r.off:r.end])
		r.off = 0
	}
	r.ready = false
	n, err := r.nc.Read(r.store[r.end:])
	r.end += n
	if n > 0 {
		return nil // report the error on the next read, after these bytes
	}
	return err
}

// release gives the buffer back once nothing is pending.
func (r *Reader) release() {
	if r.off == r.end {
		r.drop()
	}
}

func (r *Reader) drop() {
	if r.pooled != nil {
		readBufs.Put(r.pooled)
	}
	r.store, r.pooled, r.off, r.end = nil, nil, 0, 0
}
