//go:build unix

package wsframe

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func TestDirectWritesThenRefusesAfterClose(t *testing.T) {
	peer, srv := tcpPair(t)
	d := NewDirect(srv)
	if !d.Enabled() {
		t.Fatal("no direct writes on a plain TCP socket")
	}
	write := d.TryWrite
	if n, err := write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write = %d, %v; want 5, nil", n, err)
	}
	buf := make([]byte, 5)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := write([]byte("late")); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close = %d, %v; want 0, net.ErrClosed", n, err)
	}
	if n, err := peer.Read(buf); err != io.EOF {
		t.Fatalf("peer read after Close = %d, %v; want EOF", n, err)
	}
}

// The descriptor number of a closed connection is soon given to the next
// one: a write after Close must never reach it.
func TestDirectAfterCloseNeverReachesTheNextConnection(t *testing.T) {
	_, srv := tcpPair(t)
	d := NewDirect(srv)
	write := d.TryWrite
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Open connections until one reuses the descriptor (Linux hands out
	// the lowest free number, so usually the first).
	var peers []net.Conn
	for range 8 {
		p, s := tcpPair(t)
		peers = append(peers, p)
		if socketFD(s) == d.fd {
			break
		}
	}
	if _, err := write([]byte("stray")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v; want net.ErrClosed", err)
	}
	for _, p := range peers {
		_ = p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _ := p.Read(make([]byte, 16)); n != 0 {
			t.Fatalf("a later connection received %d bytes written to a closed one", n)
		}
	}
}

// A full socket takes what fits and the call returns at once: the hub
// queues the rest.
func TestDirectNeverWaitsOnAFullSocket(t *testing.T) {
	_, srv := tcpPair(t)
	_ = srv.(*net.TCPConn).SetWriteBuffer(4096)
	write := NewDirect(srv).TryWrite
	chunk := make([]byte, 64<<10)
	done := make(chan struct{})
	var short bool
	go func() {
		defer close(done)
		for range 1000 { // the peer never reads: a few MiB at most fill it
			n, err := write(chunk)
			if err != nil {
				t.Errorf("write: %v", err)
				return
			}
			if n < len(chunk) {
				short = true
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a direct write waited on a full socket")
	}
	if !short {
		t.Fatal("64 MiB went into a socket nobody reads: no short write seen")
	}
}

// Close while another goroutine writes: every write either went out
// whole or failed with net.ErrClosed (go test -race watches the rest).
func TestDirectCloseRacesWrites(t *testing.T) {
	peer, srv := tcpPair(t)
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	d := NewDirect(srv)
	write := d.TryWrite
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if _, err := write([]byte("x")); err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("write: %v", err)
				}
				return
			}
		}
	}()
	time.Sleep(10 * time.Millisecond)
	_ = d.Close()
	wg.Wait()
}

func TestDirectOnlyOnPlainTCP(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	d := NewDirect(a)
	if d.Enabled() {
		t.Fatal("direct writes on a connection that is not a TCP socket")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Close did not close the connection: %v", err)
	}
}
