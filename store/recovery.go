package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// RecoverySession is one Socket.IO socket's connection-state recovery
// record: who it was (pid, socket id, token) and what it followed.
type RecoverySession struct {
	PID, ID string
	TokenID int64
	Rooms   []string
	Base    int64
	Expires time.Time
}

// SaveRecovery replaces the kept recovery records with sessions (written
// when the server stops).
func (s *Store) SaveRecovery(ctx context.Context, sessions []RecoverySession) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save recovery: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM socketio_recovery`); err != nil {
		return fmt.Errorf("save recovery: %w", err)
	}
	for _, r := range sessions {
		rooms, err := json.Marshal(r.Rooms)
		if err != nil {
			return fmt.Errorf("save recovery: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO socketio_recovery (pid, id, token_id, rooms, base, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			r.PID, r.ID, r.TokenID, string(rooms), r.Base, ms(r.Expires)); err != nil {
			return fmt.Errorf("save recovery: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save recovery: %w", err)
	}
	s.wakeCheckpointer()
	return nil
}

// TakeRecovery returns the kept recovery records that expire after now and
// deletes them all: each is good for one start.
func (s *Store) TakeRecovery(ctx context.Context, now time.Time) ([]RecoverySession, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("take recovery: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `SELECT pid, id, token_id, rooms, base, expires_at FROM socketio_recovery WHERE expires_at > ?`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("take recovery: %w", err)
	}
	var out []RecoverySession
	for rows.Next() {
		var r RecoverySession
		var rooms string
		var exp int64
		if err := rows.Scan(&r.PID, &r.ID, &r.TokenID, &rooms, &r.Base, &exp); err != nil {
			rows.Close()
			return nil, fmt.Errorf("take recovery: %w", err)
		}
		if err := json.Unmarshal([]byte(rooms), &r.Rooms); err != nil {
			rows.Close()
			return nil, fmt.Errorf("take recovery: rooms of %s: %w", r.PID, err)
		}
		r.Expires = fromMS(exp)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("take recovery: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM socketio_recovery`); err != nil {
		return nil, fmt.Errorf("take recovery: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("take recovery: %w", err)
	}
	s.wakeCheckpointer()
	return out, nil
}
