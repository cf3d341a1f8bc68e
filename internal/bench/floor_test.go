package bench

import (
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The syscall floor of a delivery: what one write() of a pre-encoded
// ~300-byte WebSocket text frame to an established loopback TCP connection
// costs this machine. A hub cannot deliver for less than this (short of
// coalescing several frames into one write), so the bench compares a
// server's CPU per delivery with it.
//
//	go test -run '^$' -bench LoopbackWrite -benchtime 200000x ./internal/bench
//
// ns/op is wall time per write; cpu-ns/write is the writing thread's own CPU
// (user + system, from getrusage RUSAGE_THREAD), which includes the loopback
// device's delivery of the segment into the receiver's socket (on loopback
// the kernel does that in the sender's system call). The reader draining the
// other end runs on its own thread and is not counted.

// floorFrame is a server-to-client (unmasked) text frame carrying a 300-byte
// order:created-sized payload.
func floorFrame() []byte {
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	frame := []byte{0x81, 126, byte(len(payload) >> 8), byte(len(payload))}
	return append(frame, payload...)
}

// loopbackPair returns the writing end's file descriptor (the connection
// kept alive by the returned closer) with a goroutine draining the other end.
func loopbackPair(tb testing.TB) (fd int, raw syscall.RawConn, closeAll func()) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	r, ok := <-accepted
	if !ok {
		tb.Fatal("accept failed")
	}
	ln.Close()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, r)
	}()
	raw, err = w.(*net.TCPConn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	_ = raw.Control(func(f uintptr) { fd = int(f) })
	return fd, raw, func() {
		w.Close()
		<-drained
		r.Close()
	}
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkLoopbackWrite(b *testing.B) {
	frame := floorFrame()
	fd, raw, closeAll := loopbackPair(b)
	defer closeAll()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	write := func() {
		for {
			_, err := syscall.Write(fd, frame)
			if err == nil {
				return
			}
			if err != syscall.EAGAIN && err != syscall.EINTR {
				b.Fatal(err)
			}
			// Socket buffer full: wait for the reader through the poller.
			_ = raw.Write(func(uintptr) bool { return true })
		}
	}
	for range 1000 { // warm up the connection
		write()
	}
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		write()
	}
	cpu := threadCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/write")
	b.SetBytes(int64(len(frame)))
}

// BenchmarkLoopbackWriteSpread writes the same frame round-robin over 256
// connections, as a hub fanning one event out does: colder caches per socket.
func BenchmarkLoopbackWriteSpread(b *testing.B) {
	frame := floorFrame()
	const conns = 256
	fds := make([]int, conns)
	raws := make([]syscall.RawConn, conns)
	for i := range fds {
		var closeAll func()
		fds[i], raws[i], closeAll = loopbackPair(b)
		defer closeAll()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		k := i % conns
		for {
			_, err := syscall.Write(fds[k], frame)
			if err == nil {
				break
			}
			if err != syscall.EAGAIN && err != syscall.EINTR {
				b.Fatal(err)
			}
			_ = raws[k].Write(func(uintptr) bool { return true })
		}
	}
	cpu := threadCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/write")
	b.SetBytes(int64(len(frame)))
}
