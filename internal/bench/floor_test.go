package bench

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
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

// BenchmarkLoopbackWriteCrossProcess is the floor in the topology of a
// bench run: the writing thread pinned to CPU 0, the readers in another
// process pinned to CPU 1 (as the bench is), each blocked in its own read
// until a frame arrives, so every write() also pays for waking a reader on
// the other core. This is the figure posd's CPU per delivery is compared with.
//
// conns=256 keeps every socket's kernel state in cache; conns=2000 is as
// many sockets as the 2,000-client bench run writes to, whose state does
// not stay in cache between two writes to the same socket, as in the run.
func BenchmarkLoopbackWriteCrossProcess(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs two CPUs")
	}
	for _, conns := range []int{256, 2000} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { loopbackWriteCrossProcess(b, conns) })
	}
}

func loopbackWriteCrossProcess(b *testing.B, conns int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFloorReaderProcess$")
	cmd.Env = append(os.Environ(), "BENCH_FLOOR_READER="+ln.Addr().String(), "BENCH_FLOOR_CONNS="+strconv.Itoa(conns))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	_ = setAffinity(cmd.Process.Pid, 1)

	fds := make([]int, conns)
	raws := make([]syscall.RawConn, conns)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range fds {
		c, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		held = append(held, c)
		raws[i], _ = c.(*net.TCPConn).SyscallConn()
		_ = raws[i].Control(func(f uintptr) { fds[i] = int(f) })
	}
	frame := floorFrame()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = setAffinity(0, 0)
	write := func(k int) {
		for {
			_, err := syscall.Write(fds[k], frame)
			if err == nil {
				return
			}
			if err != syscall.EAGAIN && err != syscall.EINTR {
				b.Fatal(err)
			}
			_ = raws[k].Write(func(uintptr) bool { return true })
		}
	}
	for i := 0; i < 10*conns; i++ {
		write(i % conns)
	}
	b.ResetTimer()
	cpu0 := threadCPU()
	for i := 0; i < b.N; i++ {
		write(i % conns)
		if i%conns == conns-1 {
			// One round of fan-out, then a pause as between two events, so
			// the readers go back to sleep and each write wakes one up.
			time.Sleep(200 * time.Microsecond)
		}
	}
	cpu := threadCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/write")
	b.SetBytes(int64(len(frame)))
}

// TestFloorReaderProcess is the reader side of
// BenchmarkLoopbackWriteCrossProcess when the test binary runs itself as a
// child; otherwise it does nothing.
func TestFloorReaderProcess(t *testing.T) {
	addr := os.Getenv("BENCH_FLOOR_READER")
	if addr == "" {
		t.Skip("only as the floor benchmark's child process")
	}
	n, _ := strconv.Atoi(os.Getenv("BENCH_FLOOR_CONNS"))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor reader:", err)
			os.Exit(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					c.Close()
					return
				}
			}
		}()
	}
	wg.Wait()
}

// setAffinity pins a process (pid) or, with pid 0, the calling thread to one CPU.
func setAffinity(pid, cpu int) error {
	var mask [16]uint64
	mask[cpu/64] |= 1 << (cpu % 64)
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(pid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
	if errno != 0 {
		return errno
	}
	return nil
}
