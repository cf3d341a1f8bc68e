package hub

import (
	"context"
	"testing"
	"time"

	"github.com/posd/posd/internal/testutil"
)

// pullConn is a transport whose writer the test drives, in the order a real
// one runs: Wake only records that there is something to take, and pull
// then polls as a woken writer does, until Idle gives the slot back. Its
// socket never takes a direct write, so everything goes through the queue
// and stays there until the test pulls (a client that does not read).
type pullConn struct {
	woke chan struct{}
	gap  func(*TooOldError) []byte
}

func (p *pullConn) Wake() {
	select {
	case p.woke <- struct{}{}:
	default:
	}
}

func (p *pullConn) TryWrite([]byte) (bool, error) { return false, nil }

func (p *pullConn) GapFrame(g *TooOldError) []byte {
	if p.gap == nil {
		return nil
	}
	return p.gap(g)
}

// newPullClient is a client on a pullConn; gap is its GapFrame (nil: none).
func newPullClient(gap func(*TooOldError) []byte) *Client {
	return NewClient(0, &pullConn{woke: make(chan struct{}, 1), gap: gap}, nil)
}

// pull waits until c has frames to write and appends them to dst; it
// returns ErrClosed once c is closed, and ctx's error when it ends first.
func pull(ctx context.Context, c *Client, dst [][]byte) ([][]byte, error) {
	p := c.conn.(*pullConn)
	for {
		n := len(dst)
		var err error
		if dst, err = c.Poll(ctx, dst); err != nil || len(dst) > n {
			return dst, err
		}
		if !c.Idle() {
			continue
		}
		select {
		case <-p.woke:
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
}

// waitClosed waits until c has been closed, by anyone.
func waitClosed(t *testing.T, c *Client) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, "the client to be closed", func() bool { return c.Reason() != (CloseReason{}) })
}
