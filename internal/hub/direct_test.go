package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/testutil"
)

// socket is a fake transport: TryWrite takes a frame whole while it fits
// in `room` bytes (then "the buffer is full": nothing taken), and a woken
// writer goroutine writes whatever Poll gives it.
type socket struct {
	c      *hub.Client
	mu     sync.Mutex
	buf    bytes.Buffer
	room   int // bytes TryWrite may still take; -1: unlimited
	direct int // frames written by TryWrite
	woken  int
	hold   chan struct{} // when set, a woken writer waits for it to close
	ended  int           // writers that found nothing left and ended
}

func newSocket(room int, hold chan struct{}) *socket {
	s := &socket{room: room, hold: hold}
	s.c = hub.NewClient(0, s, nil)
	return s
}

func (s *socket) TryWrite(b []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.room >= 0 {
		if len(b) > s.room {
			return false, nil
		}
		s.room -= len(b)
	}
	s.buf.Write(b)
	s.direct++
	return true, nil
}

func (s *socket) GapFrame(*hub.TooOldError) []byte { return nil }

func (s *socket) Wake() {
	s.mu.Lock()
	s.woken++
	s.mu.Unlock()
	go func() {
		if s.hold != nil {
			<-s.hold
		}
		var frames [][]byte
		for {
			var err error
			frames, err = s.c.Poll(context.Background(), frames[:0])
			s.mu.Lock()
			for _, f := range frames {
				s.buf.Write(f)
			}
			s.mu.Unlock()
			if err != nil || (len(frames) == 0 && s.c.Idle()) {
				s.mu.Lock()
				s.ended++
				s.mu.Unlock()
				return
			}
		}
	}()
}

func (s *socket) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func waitText(t *testing.T, s *socket, want string) {
	t.Helper()
	testutil.EventuallyNil(t, 10*time.Second, func() error {
		if got := s.text(); got != want {
			return fmt.Errorf("socket got %q, want %q", got, want)
		}
		return nil
	})
}

// enc renders "<id>;" so partial writes and order are visible.
func enc(dst []byte, ev *domain.Event) []byte { return append(append(dst, itoa(ev.ID)...), ';') }

func TestDirectWriteWhenIdle(t *testing.T) {
	h := startHub(t, hub.Options{Encoders: []hub.Encoder{enc}})
	s := newSocket(-1, nil)
	if err := h.Register(s.c, []string{"display"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 5; i++ {
		h.Publish([]domain.Event{ev(i, "display")})
	}
	waitText(t, s, "1;2;3;4;5;")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.direct != 5 || s.woken != 0 {
		t.Fatalf("direct writes %d, writers woken %d; want 5 and 0 (an idle socket needs no writer)", s.direct, s.woken)
	}
}

// A full socket buffer: what the socket does not take waits in the queue
// for a writer, and what comes after it queues behind it, in order.
func TestDirectFullSocketKeepsOrder(t *testing.T) {
	h := startHub(t, hub.Options{Encoders: []hub.Encoder{enc}})
	s := newSocket(3, nil) // "1;" fits, "10;" does not
	if err := h.Register(s.c, []string{"display"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	h.Publish([]domain.Event{ev(1, "display"), ev(10, "display"), ev(11, "display"), ev(12, "display")})
	waitText(t, s, "1;10;11;12;")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.woken == 0 {
		t.Fatal("no writer took over from the full socket")
	}
}

// Events the replay already wrote from the log are not written again when
// their live fan-out arrives afterwards.
func TestDirectAfterReplayNoDuplicate(t *testing.T) {
	log := &listLog{events: []domain.Event{ev(1, "display"), ev(2, "display"), ev(3, "display")}}
	h := hub.New(hub.Options{Encoders: []hub.Encoder{enc}}, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	t.Cleanup(func() { cancel(); <-h.Done() })
	s := newSocket(-1, nil)
	if err := h.Register(s.c, []string{"display"}, 0, nil); err != nil {
		t.Fatal(err)
	}
	waitText(t, s, "1;2;3;")
	// The hub fans out 2 and 3 late (they were committed before the replay
	// read them), then 4.
	h.Publish([]domain.Event{ev(2, "display"), ev(3, "display"), ev(4, "display")})
	waitText(t, s, "1;2;3;4;")
}

type listLog struct{ events []domain.Event }

func (l *listLog) ReadEvents(_ context.Context, after int64, _ []string, limit int) ([]domain.Event, error) {
	var out []domain.Event
	for _, e := range l.events {
		if e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}
func (l *listLog) Horizon(context.Context) (int64, error) { return 0, nil }

// A direct write that took nothing leaves an ordinary queued event: a
// resume's replay carries it once, and without a resume it goes out once.
func TestDirectWriteOfNothingStaysAnEvent(t *testing.T) {
	for _, resume := range []bool{false, true} {
		log := &listLog{events: []domain.Event{ev(1, "display"), ev(2, "display"), ev(10, "display")}}
		h := hub.New(hub.Options{Encoders: []hub.Encoder{enc}}, log, nil)
		ctx, cancel := context.WithCancel(context.Background())
		go h.Run(ctx)
		s := newSocket(0, make(chan struct{}))
		c := s.c
		if err := h.Register(c, []string{"display"}, -1, nil); err != nil {
			t.Fatal(err)
		}
		h.Publish([]domain.Event{ev(10, "display")})
		testutil.Eventually(t, 10*time.Second, "a wake-up", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.woken > 0 })
		want := "10;"
		if resume {
			c.Resume(0, []byte("R;"))
			want = "R;1;2;10;"
		}
		s.mu.Lock()
		s.room = -1
		s.mu.Unlock()
		close(s.hold)
		// Once the writer has nothing left, the socket holds exactly want.
		testutil.Eventually(t, 10*time.Second, "the end", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.ended > 0 })
		if got := s.text(); got != want {
			t.Errorf("resume=%v: socket got %q, want %q", resume, got, want)
		}
		cancel()
		<-h.Done()
	}
}
