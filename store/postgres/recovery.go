package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/store"
)

// SaveRecovery replaces the kept recovery records with sessions (written
// when the server stops).
func (s *Store) SaveRecovery(ctx context.Context, sessions []store.RecoverySession) error {
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM socketio_recovery`); err != nil {
			return err
		}
		var b pgx.Batch
		for _, r := range sessions {
			rooms, err := json.Marshal(r.Rooms)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO socketio_recovery (pid, id, token_id, rooms, base, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
				r.PID, r.ID, r.TokenID, string(rooms), r.Base, ms(r.Expires))
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("save recovery: %w", err)
	}
	return nil
}

// TakeRecovery returns the kept recovery records that expire after now and
// deletes them all: each is good for one start. It is one DELETE …
// RETURNING, so of two nodes starting at once each record goes to one.
func (s *Store) TakeRecovery(ctx context.Context, now time.Time) ([]store.RecoverySession, error) {
	var out []store.RecoverySession
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		out = nil // a retried attempt starts over
		rows, err := tx.Query(ctx, `DELETE FROM socketio_recovery RETURNING pid, id, token_id, rooms, base, expires_at`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r store.RecoverySession
			var rooms string
			var exp int64
			if err := rows.Scan(&r.PID, &r.ID, &r.TokenID, &rooms, &r.Base, &exp); err != nil {
				return err
			}
			if exp <= ms(now) {
				continue
			}
			if err := json.Unmarshal([]byte(rooms), &r.Rooms); err != nil {
				return fmt.Errorf("rooms of %s: %w", r.PID, err)
			}
			r.Expires = fromMS(exp)
			out = append(out, r)
		}
		return rows.Err()
	})
	// In key order, as the SQLite store returns them.
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	if err != nil {
		return nil, fmt.Errorf("take recovery: %w", err)
	}
	return out, nil
}
