package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/posd/posd/store"
)

// SaveRecovery replaces the kept recovery records with sessions (written
// when the server stops).
func (s *Store) SaveRecovery(ctx context.Context, sessions []store.RecoverySession) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM socketio_recovery`); err != nil {
			return err
		}
		for _, r := range sessions {
			rooms, err := json.Marshal(r.Rooms)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO socketio_recovery (pid, id, token_id, rooms, base, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
				r.PID, r.ID, r.TokenID, string(rooms), r.Base, ms(r.Expires)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save recovery: %w", err)
	}
	return nil
}

// TakeRecovery returns the kept recovery records that expire after now and
// deletes them all: each is good for one start.
func (s *Store) TakeRecovery(ctx context.Context, now time.Time) ([]store.RecoverySession, error) {
	var out []store.RecoverySession
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT pid, id, token_id, rooms, base, expires_at FROM socketio_recovery WHERE expires_at > ?`, ms(now))
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
			if err := json.Unmarshal([]byte(rooms), &r.Rooms); err != nil {
				return fmt.Errorf("rooms of %s: %w", r.PID, err)
			}
			r.Expires = fromMS(exp)
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		_, err = tx.ExecContext(ctx, `DELETE FROM socketio_recovery`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("take recovery: %w", err)
	}
	return out, nil
}
