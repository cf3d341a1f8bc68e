package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/store"
)

const tokenCols = `id, hash, role, tenant_id, counter_id, user_id, display, label, created_at, expires_at, revoked_at`

func scanToken(r scanner) (*store.TokenRow, error) {
	var t store.TokenRow
	var created int64
	var display int
	var exp, rev sql.NullInt64
	if err := r.Scan(&t.ID, &t.Hash, &t.Role, &t.TenantID, &t.CounterID, &t.UserID, &display, &t.Label, &created, &exp, &rev); err != nil {
		return nil, err
	}
	t.Display = display != 0
	t.CreatedAt = fromMS(created)
	if exp.Valid {
		v := fromMS(exp.Int64)
		t.ExpiresAt = &v
	}
	if rev.Valid {
		v := fromMS(rev.Int64)
		t.RevokedAt = &v
	}
	return &t, nil
}

// InsertToken stores a token row and fills in its id.
func (s *Store) InsertToken(ctx context.Context, t *store.TokenRow) error {
	var exp any
	if t.ExpiresAt != nil {
		exp = ms(*t.ExpiresAt)
	}
	display := 0
	if t.Display {
		display = 1
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, role, tenant_id, counter_id, user_id, display, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.Role, t.TenantID, t.CounterID, t.UserID, display, t.Label, ms(t.CreatedAt), exp)
		if err == nil {
			t.ID, err = res.LastInsertId()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

// TokenByHash finds a token by the hash of its secret; nil when unknown.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*store.TokenRow, error) {
	t, err := scanToken(s.rdb.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// Tokens lists every token, newest last.
func (s *Store) Tokens(ctx context.Context) ([]store.TokenRow, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []store.TokenRow{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// RevokeToken marks a token revoked; it reports false for an unknown id.
func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) (bool, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, ms(at), id)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("revoke token: %w", err)
	}
	return n > 0, nil
}

// CountTokens reports how many tokens exist (0 on a fresh database).
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&n)
	return n, err
}

// TokenByID reads one token; nil when unknown.
func (s *Store) TokenByID(ctx context.Context, id int64) (*store.TokenRow, error) {
	t, err := scanToken(s.rdb.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}
