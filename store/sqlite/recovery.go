package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/store"
)

// PutRecovery writes r as generation r.Gen, over a record of a lower one.
func (s *Store) PutRecovery(ctx context.Context, r store.RecoverySession) error {
	rooms, err := roomsJSON(r.Rooms)
	if err != nil {
		return fmt.Errorf("put recovery: %w", err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO socketio_recovery (pid, id, token_id, rooms, base, expires_at, owner, gen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (pid) DO UPDATE SET id = excluded.id, token_id = excluded.token_id, rooms = excluded.rooms,
    base = excluded.base, expires_at = excluded.expires_at, owner = excluded.owner, gen = excluded.gen
WHERE socketio_recovery.gen < excluded.gen`,
			r.PID, r.ID, r.TokenID, rooms, r.Base, ms(r.Expires), r.Owner, r.Gen)
		return err
	})
	if err != nil {
		return fmt.Errorf("put recovery: %w", err)
	}
	return nil
}

// UpdateRecovery sets rooms and expiry of pid's record at generation gen.
func (s *Store) UpdateRecovery(ctx context.Context, pid string, gen int64, rooms []string, expires time.Time) error {
	js, err := roomsJSON(rooms)
	if err != nil {
		return fmt.Errorf("update recovery: %w", err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE socketio_recovery SET rooms = ?, expires_at = ? WHERE pid = ? AND gen = ?`, js, ms(expires), pid, gen)
		return err
	})
	if err != nil {
		return fmt.Errorf("update recovery: %w", err)
	}
	return nil
}

// DeleteRecovery deletes pid's record at generation gen.
func (s *Store) DeleteRecovery(ctx context.Context, pid string, gen int64) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM socketio_recovery WHERE pid = ? AND gen = ?`, pid, gen)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete recovery: %w", err)
	}
	return nil
}

// ClaimRecovery takes pid's record in one DELETE … RETURNING.
func (s *Store) ClaimRecovery(ctx context.Context, pid string, tokenID int64, now time.Time) (*store.RecoverySession, error) {
	var out *store.RecoverySession
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		out = nil
		r := store.RecoverySession{PID: pid}
		var rooms string
		var exp int64
		err := tx.QueryRowContext(ctx, `DELETE FROM socketio_recovery WHERE pid = ? AND token_id = ? AND expires_at > ?
RETURNING id, token_id, rooms, base, expires_at, owner, gen`, pid, tokenID, ms(now)).
			Scan(&r.ID, &r.TokenID, &rooms, &r.Base, &exp, &r.Owner, &r.Gen)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(rooms), &r.Rooms); err != nil {
			return fmt.Errorf("rooms of %s: %w", pid, err)
		}
		r.Expires = fromMS(exp)
		out = &r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim recovery: %w", err)
	}
	return out, nil
}

// TouchRecovery sets the expiry of owner's records among pids.
func (s *Store) TouchRecovery(ctx context.Context, owner string, pids []string, expires time.Time) error {
	if len(pids) == 0 {
		return nil
	}
	js, err := json.Marshal(pids)
	if err != nil {
		return fmt.Errorf("touch recovery: %w", err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE socketio_recovery SET expires_at = ?
WHERE owner = ? AND pid IN (SELECT value FROM json_each(?))`, ms(expires), owner, string(js))
		return err
	})
	if err != nil {
		return fmt.Errorf("touch recovery: %w", err)
	}
	return nil
}

// PruneRecovery deletes the records expired at now.
func (s *Store) PruneRecovery(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM socketio_recovery WHERE expires_at <= ?`, ms(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune recovery: %w", err)
	}
	return n, nil
}

// ClusterSecret reads the secret migration 0007 made.
func (s *Store) ClusterSecret(ctx context.Context) (string, error) {
	var v string
	if err := s.rdb.QueryRowContext(ctx, `SELECT secret FROM cluster_secret`).Scan(&v); err != nil {
		return "", fmt.Errorf("read cluster secret: %w", err)
	}
	return v, nil
}

func roomsJSON(rooms []string) (string, error) {
	if rooms == nil {
		rooms = []string{}
	}
	b, err := json.Marshal(rooms)
	return string(b), err
}
