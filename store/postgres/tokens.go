package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/store"
)

const tokenCols = `id, hash, role, tenant_id, counter_id, user_id, display, label, created_at, expires_at, revoked_at`

func scanToken(r pgx.Row) (*store.TokenRow, error) {
	var t store.TokenRow
	var created int64
	var exp, rev *int64
	if err := r.Scan(&t.ID, &t.Hash, &t.Role, &t.TenantID, &t.CounterID, &t.UserID, &t.Display, &t.Label, &created, &exp, &rev); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMS(created)
	if exp != nil {
		v := fromMS(*exp)
		t.ExpiresAt = &v
	}
	if rev != nil {
		v := fromMS(*rev)
		t.RevokedAt = &v
	}
	return &t, nil
}

// InsertToken stores a token row and fills in its id.
func (s *Store) InsertToken(ctx context.Context, t *store.TokenRow) error {
	var exp *int64
	if t.ExpiresAt != nil {
		v := ms(*t.ExpiresAt)
		exp = &v
	}
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO tokens (hash, role, tenant_id, counter_id, user_id, display, label, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			t.Hash, t.Role, t.TenantID, t.CounterID, t.UserID, t.Display, t.Label, ms(t.CreatedAt), exp).Scan(&t.ID)
	})
	if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

func (s *Store) tokenWhere(ctx context.Context, where string, arg any) (*store.TokenRow, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, readErr("read token", err)
	}
	return t, nil
}

// TokenByHash finds a token by the hash of its secret; nil when unknown.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*store.TokenRow, error) {
	return s.tokenWhere(ctx, `hash = $1`, hash)
}

// TokenByID reads one token; nil when unknown.
func (s *Store) TokenByID(ctx context.Context, id int64) (*store.TokenRow, error) {
	return s.tokenWhere(ctx, `id = $1`, id)
}

// Tokens lists every token, newest last.
func (s *Store) Tokens(ctx context.Context) ([]store.TokenRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
	if err != nil {
		return nil, readErr("list tokens", err)
	}
	defer rows.Close()
	out := []store.TokenRow{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, readErr("list tokens", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("list tokens", err)
	}
	return out, nil
}

// RevokeToken marks a token revoked; it reports false for an unknown id.
// A token revoked before keeps its first revocation time.
func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) (bool, error) {
	var n int64
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, ms(at), id)
		n = tag.RowsAffected()
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
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&n); err != nil {
		return 0, readErr("count tokens", err)
	}
	return n, nil
}
