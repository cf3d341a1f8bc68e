package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/postgres/pgtest"
	"github.com/posd/posd/store/sqlite"
)

func TestDBCopyFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"db", "copy", "--to", "postgres://x/y"}, "--from"},
		{[]string{"db", "copy", "--from", "posd.db", "--to", "other.db"}, "postgres://"},
		{[]string{"db", "copy", "--from", "postgres://x/y", "--to", "postgres://x/z"}, "SQLite file"},
	} {
		_, stderr, code := run(t, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, %q; want 1 and %q", tc.args, code, stderr, tc.msg)
		}
	}
}

// posd db copy end to end: progress and a summary on stderr, then a second
// run into the same database is refused.
func TestDBCopyCommand(t *testing.T) {
	dsn := pgtest.DSN(t)
	path := filepath.Join(t.TempDir(), "posd.db")
	s, err := sqlite.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := service.New(s, nil).CreateTenant(context.Background(), auth.Anonymous, "Warung", "T1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, stderr, code := run(t, "db", "copy", "--from", path, "--to", dsn)
	if code != 0 || !strings.Contains(stderr, "tenants: 1 rows") || !strings.Contains(stderr, "posd: copied") {
		t.Fatalf("copy: exit %d\n%s", code, stderr)
	}
	_, stderr, code = run(t, "db", "copy", "--from", path, "--to", dsn)
	if code != 1 || !strings.Contains(stderr, "not empty") || !strings.Contains(stderr, "nothing was written") {
		t.Fatalf("second copy: exit %d\n%s", code, stderr)
	}
}
