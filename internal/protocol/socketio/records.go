package socketio

import (
	"context"
	"sync"
	"time"
)

// Record is a socket's connection-state recovery record: who it was (pid,
// socket id, token), what it followed, the node holding it and its
// generation (each recovery starts a new one).
type Record struct {
	PID, ID string
	TokenID int64
	Rooms   []string
	Base    int64
	Expires time.Time
	Owner   string
	Gen     int64
}

// Records keeps recovery records where every node sharing the database
// can claim them (store.Store's *Recovery methods). A write of an older
// generation than the record's changes nothing: a claim elsewhere wins
// over a late disconnect here.
type Records interface {
	PutRecovery(ctx context.Context, r Record) error
	UpdateRecovery(ctx context.Context, pid string, gen int64, rooms []string, expires time.Time) error
	DeleteRecovery(ctx context.Context, pid string, gen int64) error
	// ClaimRecovery takes the record atomically (nil when none is left).
	ClaimRecovery(ctx context.Context, pid string, tokenID int64, now time.Time) (*Record, error)
	TouchRecovery(ctx context.Context, owner string, pids []string, expires time.Time) error
}

// memRecords keeps records in this process only: a single node without a
// database (tests, embedding).
type memRecords struct {
	now   func() time.Time
	mu    sync.Mutex
	m     map[string]Record
	sweep int // len(m) at which expired records are next swept
}

func newMemRecords(now func() time.Time) *memRecords {
	return &memRecords{now: now, m: make(map[string]Record), sweep: 1024}
}

func (r *memRecords) PutRecovery(_ context.Context, rec Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.sweep {
		now := r.now()
		for pid, v := range r.m {
			if !now.Before(v.Expires) {
				delete(r.m, pid)
			}
		}
		r.sweep = max(2*len(r.m), 1024)
	}
	if old, ok := r.m[rec.PID]; !ok || old.Gen < rec.Gen {
		rec.Rooms = append([]string(nil), rec.Rooms...)
		r.m[rec.PID] = rec
	}
	return nil
}

func (r *memRecords) UpdateRecovery(_ context.Context, pid string, gen int64, rooms []string, expires time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.m[pid]; ok && old.Gen == gen {
		old.Rooms, old.Expires = append([]string(nil), rooms...), expires
		r.m[pid] = old
	}
	return nil
}

func (r *memRecords) DeleteRecovery(_ context.Context, pid string, gen int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.m[pid]; ok && old.Gen == gen {
		delete(r.m, pid)
	}
	return nil
}

func (r *memRecords) ClaimRecovery(_ context.Context, pid string, tokenID int64, now time.Time) (*Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.m[pid]
	if !ok || old.TokenID != tokenID || !now.Before(old.Expires) {
		return nil, nil
	}
	delete(r.m, pid)
	return &old, nil
}

func (r *memRecords) TouchRecovery(_ context.Context, owner string, pids []string, expires time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pid := range pids {
		if old, ok := r.m[pid]; ok && old.Owner == owner {
			old.Expires = expires
			r.m[pid] = old
		}
	}
	return nil
}
