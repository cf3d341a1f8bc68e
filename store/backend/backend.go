// Package backend opens the store a target names: a postgres:// or
// postgresql:// URL opens PostgreSQL, anything else is a SQLite file.
package backend

import (
	"context"
	"net/url"
	"strings"

	"github.com/posd/posd/store"
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/sqlite"
)

// IsPostgres reports whether target names a PostgreSQL database.
func IsPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// Open opens the store target names.
func Open(ctx context.Context, target string, opts store.Options) (store.Store, error) {
	if IsPostgres(target) {
		return postgres.Open(ctx, target, opts)
	}
	return sqlite.Open(ctx, target, opts)
}

// Redact is target fit for a log: a URL's password is replaced.
func Redact(target string) string {
	if !IsPostgres(target) {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}
