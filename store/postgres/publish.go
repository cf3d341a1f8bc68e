package postgres

import (
	"sync"

	"github.com/posd/posd/internal/domain"
)

type pubState int

const (
	pubPending pubState = iota
	pubCommitted
	pubAborted
)

// publisher hands this process's committed events to Options.Committed in
// id order without holding a Go lock across a database round trip.
// A transaction joins the queue at its first append, while it holds the
// log lock, so the queue is in id order; when it ends (committed or not)
// it marks itself and drains the queue's head as far as it is settled.
// A transaction that committed behind one still committing is published
// by that one, right after it.
type publisher struct {
	mu        sync.Mutex
	q         []*tx
	committed func([]domain.Event)
}

func (p *publisher) enqueue(t *tx) {
	p.mu.Lock()
	p.q = append(p.q, t)
	p.mu.Unlock()
}

// settle records how t ended and publishes what can be. Committed is
// called with mu held: that is what keeps the calls in order, and why it
// must be cheap.
func (p *publisher) settle(t *tx, st pubState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t.state = st
	for len(p.q) > 0 && p.q[0].state != pubPending {
		head := p.q[0]
		p.q[0] = nil
		p.q = p.q[1:]
		if head.state == pubCommitted && p.committed != nil {
			p.committed(head.events)
		}
	}
}
