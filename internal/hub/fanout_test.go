package hub_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/testutil"
)

// fanoutLog is an empty log: these tests never replay.
type fanoutLog struct{}

func (fanoutLog) ReadEvents(context.Context, int64, []string, int) ([]domain.Event, error) {
	return nil, nil
}
func (fanoutLog) Horizon(context.Context) (int64, error) { return 0, nil }

// countingEncoder renders "<id>" and counts its calls.
type countingEncoder struct{ calls atomic.Int64 }

func (e *countingEncoder) encode(dst []byte, ev *domain.Event) []byte {
	e.calls.Add(1)
	return append(dst, []byte(itoa(ev.ID))...)
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func startHub(t testing.TB, opts hub.Options) *hub.Hub {
	t.Helper()
	h := hub.New(opts, fanoutLog{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	t.Cleanup(func() { cancel(); <-h.Done() })
	return h
}

func ev(id int64, rooms ...string) domain.Event {
	return domain.Event{ID: id, Name: domain.EventOrderCreated, Type: "order_created", Rooms: rooms}
}

// collect reads from c until it has n frames or the wait runs out.
func collect(t *testing.T, c *hub.Client, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	var frames [][]byte
	for len(out) < n {
		var err error
		frames, err = hub.Pull(ctx, c, frames[:0])
		if err != nil {
			t.Fatalf("after %d frames: %v", len(out), err)
		}
		for _, f := range frames {
			out = append(out, string(f))
		}
	}
	return out
}

func TestOnceAcrossRoomsAndEncodeOnce(t *testing.T) {
	enc := &countingEncoder{}
	h := startHub(t, hub.Options{Encoders: []hub.Encoder{enc.encode}})
	multi := hub.NewPullClient(nil)
	if err := h.Register(multi, []string{"tenant-1", "display", "kasir-1"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	other := hub.NewPullClient(nil)
	if err := h.Register(other, []string{"tenant-2"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	h.Publish([]domain.Event{ev(1, "tenant-1", "display", "kasir-1"), ev(2, "tenant-2"), ev(3, domain.RoomAll),
		ev(4, "display", "display"), ev(5, "tenant-2", "display", "tenant-2")})
	if got := collect(t, multi, 4); !slices.Equal(got, []string{"1", "3", "4", "5"}) {
		t.Fatalf("multi-room client got %v, want [1 3 4 5]", got)
	}
	if got := collect(t, other, 3); !slices.Equal(got, []string{"2", "3", "5"}) {
		t.Fatalf("tenant-2 client got %v, want [2 3 5]", got)
	}
	if n := enc.calls.Load(); n != 5 {
		t.Fatalf("encoder ran %d times for 5 events: a broadcast must be encoded once", n)
	}
}

func TestSlowConsumerIsClosedOthersContinue(t *testing.T) {
	h := startHub(t, hub.Options{MaxQueueMessages: 10, Encoders: []hub.Encoder{(&countingEncoder{}).encode}})
	slow := hub.NewPullClient(nil)
	fast := hub.NewPullClient(nil)
	for _, c := range []*hub.Client{slow, fast} {
		if err := h.Register(c, []string{"display"}, -1, nil); err != nil {
			t.Fatal(err)
		}
	}
	const n = 100
	// The fast client reads everything; the publisher waits for it to have
	// each event before the next, so however the goroutines are scheduled,
	// only the slow client (which never reads) can overflow.
	var received atomic.Int64
	var frames []string // the reader's until readErr delivers
	readErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var buf [][]byte
		for received.Load() < n {
			var err error
			if buf, err = hub.Pull(ctx, fast, buf[:0]); err != nil {
				readErr <- err
				return
			}
			for _, f := range buf {
				frames = append(frames, string(f))
			}
			received.Add(int64(len(buf)))
		}
		readErr <- nil
	}()
	deadline := time.Now().Add(20 * time.Second)
	for i := int64(1); i <= n; i++ {
		h.Publish([]domain.Event{ev(i, "display")})
		if !testutil.Await(time.Until(deadline), 50*time.Microsecond, func() bool { return received.Load() >= i }) {
			t.Fatalf("the fast client has %d of %d events", received.Load(), i)
		}
	}
	if err := <-readErr; err != nil {
		t.Fatalf("fast client: %v after %d frames", err, len(frames))
	}
	if len(frames) != n || frames[n-1] != itoa(n) {
		t.Fatalf("fast client got %d frames, last %v", len(frames), frames[len(frames)-1])
	}
	hub.WaitClosed(t, slow)
	if r := slow.Reason(); r != hub.SlowConsumer || r.Code != 4008 {
		t.Fatalf("slow client closed with %+v", r)
	}
	if size := h.RoomSizes()["display"]; size != 1 {
		t.Fatalf("display has %d clients after the slow one was dropped", size)
	}
}

func TestRoomLimitsAndMembership(t *testing.T) {
	h := startHub(t, hub.Options{MaxRoomsPerConn: 2, MaxConnections: 2, Encoders: []hub.Encoder{(&countingEncoder{}).encode}})
	c := hub.NewPullClient(nil)
	if err := h.Register(c, []string{"tenant-1"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Join(c, "display"); err != nil {
		t.Fatal(err)
	}
	if err := h.Join(c, "display"); err != nil {
		t.Fatalf("joining twice: %v", err)
	}
	if err := h.Join(c, "kasir-1"); err != hub.ErrTooManyRooms {
		t.Fatalf("third room: %v, want ErrTooManyRooms", err)
	}
	if err := h.Register(hub.NewPullClient(nil), nil, -1, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Register(hub.NewPullClient(nil), nil, -1, nil); err != hub.ErrTooManyConnections {
		t.Fatalf("third connection: %v", err)
	}
	h.Leave(c, "tenant-1")
	if sizes := h.RoomSizes(); sizes["tenant-1"] != 0 || sizes["display"] != 1 {
		t.Fatalf("sizes %v", sizes)
	}
	if n := h.DisconnectRoom("display"); n != 1 {
		t.Fatalf("disconnected %d", n)
	}
	if c.Reason() != hub.Kicked || h.Active() != 1 {
		t.Fatalf("reason %+v, active %d", c.Reason(), h.Active())
	}
}

// BenchmarkFanout measures one broadcast to 1,000 subscribed clients through
// the hub, sockets excluded: "direct", where every connection is idle and
// takes the event from the fan-out itself (the common case), and "queued",
// where none takes it and a writer goroutine is woken to drain the queue.
func BenchmarkFanout(b *testing.B) {
	for _, direct := range []bool{true, false} {
		name := "queued"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) { benchFanout(b, direct) })
	}
}

// benchConn counts what reaches it, directly or through a woken writer.
type benchConn struct {
	c        *hub.Client
	direct   bool
	received *atomic.Int64
	writers  *sync.WaitGroup
}

func (bc *benchConn) TryWrite([]byte) (bool, error) {
	if !bc.direct {
		return false, nil
	}
	bc.received.Add(1)
	return true, nil
}

func (bc *benchConn) Wake() {
	bc.writers.Add(1)
	go func() {
		defer bc.writers.Done()
		var frames [][]byte
		for {
			var err error
			frames, err = bc.c.Poll(context.Background(), frames[:0])
			bc.received.Add(int64(len(frames)))
			if err != nil || (len(frames) == 0 && bc.c.Idle()) {
				return
			}
		}
	}()
}

func (bc *benchConn) GapFrame(*hub.TooOldError) []byte { return nil }

func benchFanout(b *testing.B, direct bool) {
	const clients = 1000
	enc := &countingEncoder{}
	h := startHub(b, hub.Options{MaxQueueMessages: 1 << 20, MaxQueueBytes: 1 << 30, Encoders: []hub.Encoder{enc.encode}})
	var received atomic.Int64
	var writers sync.WaitGroup
	for range clients {
		bc := &benchConn{direct: direct, received: &received, writers: &writers}
		bc.c = hub.NewClient(0, bc, nil)
		if err := h.Register(bc.c, []string{"tenant-1"}, -1, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		h.Publish([]domain.Event{ev(int64(i), "tenant-1")})
	}
	for received.Load() < int64(b.N)*clients {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*clients), "ns/delivery")
	b.ReportMetric(float64(enc.calls.Load())/float64(b.N), "encodes/broadcast")
	writers.Wait()
}
