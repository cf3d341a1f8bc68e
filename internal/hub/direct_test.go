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

// socket is a fake connection for the Direct/OnWake path: Direct writes
// at most `room` bytes (then "the buffer is full"), a writer goroutine
// writes whatever Poll gives it.
type socket struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	room   int // bytes Direct may still take; -1: unlimited
	direct int // frames (or parts) written by Direct
	woken  int
	hold   chan struct{} // when set, a woken writer waits for it to close
	ended  int           // writers that found nothing left and ended
}

// directFunc adapts a function to hub.DirectWriter.
type directFunc func([]byte) (int, error)

func (f directFunc) TryWrite(b []byte) (int, error) { return f(b) }

func (s *socket) attach(c *hub.Client) {
	c.Direct = directFunc(func(b []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := len(b)
		if s.room >= 0 && n > s.room {
			n = s.room
		}
		if s.room >= 0 {
			s.room -= n
		}
		s.buf.Write(b[:n])
		s.direct++
		return n, nil
	})
	c.OnWake = func() {
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
				frames, err = c.Poll(context.Background(), frames[:0])
				s.mu.Lock()
				for _, f := range frames {
					s.buf.Write(f)
				}
				s.mu.Unlock()
				if err != nil || (len(frames) == 0 && c.Idle()) {
					s.mu.Lock()
					s.ended++
					s.mu.Unlock()
					return
				}
			}
		}()
	}
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
	s := &socket{room: -1}
	c := hub.NewClient(0)
	s.attach(c)
	if err := h.Register(c, []string{"display"}, -1); err != nil {
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

// A full socket buffer: the unwritten rest of a frame goes out first, then
// the frames queued behind it, in order, through a writer.
func TestDirectPartialWriteKeepsOrder(t *testing.T) {
	h := startHub(t, hub.Options{Encoders: []hub.Encoder{enc}})
	s := &socket{room: 3} // "1;" fits, then one byte of "10;"
	c := hub.NewClient(0)
	s.attach(c)
	if err := h.Register(c, []string{"display"}, -1); err != nil {
		t.Fatal(err)
	}
	h.Publish([]domain.Event{ev(1, "display"), ev(10, "display"), ev(11, "display"), ev(12, "display")})
	waitText(t, s, "1;10;11;12;")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.woken == 0 {
		t.Fatal("no writer took over after the partial write")
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
	s := &socket{room: -1}
	c := hub.NewClient(0)
	s.attach(c)
	if err := h.Register(c, []string{"display"}, 0); err != nil {
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

// A resume that arrives while a partly written frame waits for its writer:
// the frame is finished first, then the resume's head and its replay.
func TestDirectPartialFrameFinishesBeforeAResume(t *testing.T) {
	log := &listLog{events: []domain.Event{ev(1, "display"), ev(2, "display"), ev(10, "display")}}
	h := hub.New(hub.Options{Encoders: []hub.Encoder{enc}}, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	t.Cleanup(func() { cancel(); <-h.Done() })
	s := &socket{room: 1, hold: make(chan struct{})} // one byte of "10;"
	c := hub.NewClient(0)
	s.attach(c)
	if err := h.Register(c, []string{"display"}, -1); err != nil {
		t.Fatal(err)
	}
	h.Publish([]domain.Event{ev(10, "display")})
	waitText(t, s, "1")
	c.ResumeWith(0, []byte("R;"))
	close(s.hold)
	// "10;" whole, then the head, then every event after 0 (10 again: it
	// went out before the head, under the old cursor).
	waitText(t, s, "10;R;1;2;10;")
}

// A direct write that took nothing leaves an ordinary queued event: a
// resume's replay carries it once, and without a resume it goes out once.
func TestDirectWriteOfNothingStaysAnEvent(t *testing.T) {
	for _, resume := range []bool{false, true} {
		log := &listLog{events: []domain.Event{ev(1, "display"), ev(2, "display"), ev(10, "display")}}
		h := hub.New(hub.Options{Encoders: []hub.Encoder{enc}}, log, nil)
		ctx, cancel := context.WithCancel(context.Background())
		go h.Run(ctx)
		s := &socket{room: 0, hold: make(chan struct{})}
		c := hub.NewClient(0)
		s.attach(c)
		if err := h.Register(c, []string{"display"}, -1); err != nil {
			t.Fatal(err)
		}
		h.Publish([]domain.Event{ev(10, "display")})
		testutil.Eventually(t, 10*time.Second, "a wake-up", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.woken > 0 })
		want := "10;"
		if resume {
			c.ResumeWith(0, []byte("R;"))
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
