package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/sqlite"
)

type tokenEnv struct {
	toks    *auth.Tokens
	clock   *testutil.Clock
	db      string
	revoked []int64
}

func newTokens(t *testing.T) *tokenEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "posd.db")
	c := testutil.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	st, err := sqlite.Open(context.Background(), path, store.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &tokenEnv{clock: c, db: path}
	e.toks = auth.NewTokens(st, c.Now, func(id int64) { e.revoked = append(e.revoked, id) })
	return e
}

func (e *tokenEnv) create(t *testing.T, spec auth.TokenSpec) auth.IssuedToken {
	t.Helper()
	tok, err := e.toks.Create(context.Background(), spec)
	if err != nil {
		t.Fatalf("create %+v: %v", spec, err)
	}
	return tok
}

func code(err error) domain.Code {
	if err == nil {
		return ""
	}
	return domain.ErrorCode(err)
}

var tokenFormat = regexp.MustCompile(`^posd_([1-9][0-9]*)_([A-Za-z0-9_-]{43})$`)

func TestTokenFormatAndOnlyHashStored(t *testing.T) {
	e := newTokens(t)
	var secrets []string
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		tok := e.create(t, auth.TokenSpec{Role: auth.RoleKasir, CounterID: 3, Label: "counter 3"})
		m := tokenFormat.FindStringSubmatch(tok.Token)
		if m == nil {
			t.Fatalf("token %q does not read posd_{id}_{secret}", tok.Token)
		}
		if m[1] != strconv.FormatInt(tok.ID, 10) {
			t.Fatalf("token %q carries id %s, issued id %d", tok.Token, m[1], tok.ID)
		}
		raw, err := base64.RawURLEncoding.DecodeString(m[2])
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret %q: %d bytes, %v; want 256 bits", m[2], len(raw), err)
		}
		if seen[m[2]] {
			t.Fatal("secret repeated")
		}
		seen[m[2]] = true
		secrets = append(secrets, m[2])
		p, err := e.toks.Authenticate(context.Background(), tok.Token, "10.0.0.1")
		if err != nil || p.Role != auth.RoleKasir || p.CounterID != 3 || p.TokenID != tok.ID {
			t.Fatalf("authenticate fresh token: %+v, %v", p, err)
		}
	}

	// The row holds the SHA-256 of the secret and nothing of the secret.
	db, err := sql.Open("sqlite", e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, hash, role, label FROM tokens ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var id int64
		var hash, role, label string
		if err := rows.Scan(&id, &hash, &role, &label); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(secrets[i]))
		if hash != hex.EncodeToString(sum[:]) {
			t.Errorf("row %d hash %q is not the SHA-256 of the secret", id, hash)
		}
		for _, col := range []string{hash, role, label} {
			if strings.Contains(col, secrets[i]) {
				t.Errorf("row %d stores the secret", id)
			}
		}
		i++
	}
	rows.Close()
	if i != len(secrets) {
		t.Fatalf("%d rows, want %d", i, len(secrets))
	}
	// Nor anywhere else in the database files.
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(e.db + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("secret found in %s", e.db+suffix)
			}
		}
	}
	// List never carries the hash either (it is json:"-").
	list, err := e.toks.List(context.Background())
	if err != nil || len(list) != len(secrets) {
		t.Fatalf("list: %d, %v", len(list), err)
	}
}

func TestTokenSpecValidation(t *testing.T) {
	e := newTokens(t)
	good := []auth.TokenSpec{
		{Role: auth.RoleAdmin},
		{Role: auth.RoleTenant, TenantID: 1},
		{Role: auth.RoleKasir, CounterID: 2},
		{Role: auth.RoleDisplay, Display: true},
		{Role: auth.RoleDisplay, TenantID: 4},
		{Role: auth.RoleDisplay, TenantID: 4, Display: true},
		{Role: auth.RoleUser, UserID: 7},
		{Role: auth.RoleUser, UserID: 7, ExpiresIn: "720h", Label: "Budi's phone"},
	}
	for _, s := range good {
		if _, err := e.toks.Create(context.Background(), s); err != nil {
			t.Errorf("%+v refused: %v", s, err)
		}
	}
	bad := []auth.TokenSpec{
		{},
		{Role: "root"},
		{Role: "ADMIN"},
		{Role: auth.RoleAdmin, TenantID: 1},
		{Role: auth.RoleAdmin, Display: true},
		{Role: auth.RoleTenant},
		{Role: auth.RoleTenant, TenantID: 1, CounterID: 1},
		{Role: auth.RoleTenant, TenantID: 1, Display: true},
		{Role: auth.RoleTenant, TenantID: -1},
		{Role: auth.RoleTenant, TenantID: domain.MaxRoomID + 1},
		{Role: auth.RoleKasir},
		{Role: auth.RoleKasir, CounterID: 1, TenantID: 1},
		{Role: auth.RoleKasir, CounterID: -3},
		{Role: auth.RoleDisplay},
		{Role: auth.RoleDisplay, Display: true, CounterID: 1},
		{Role: auth.RoleDisplay, Display: true, UserID: 1},
		{Role: auth.RoleUser},
		{Role: auth.RoleUser, UserID: 1, TenantID: 1},
		{Role: auth.RoleUser, UserID: 1, Display: true},
		{Role: auth.RoleUser, UserID: 1, ExpiresIn: "0s"},
		{Role: auth.RoleUser, UserID: 1, ExpiresIn: "-1h"},
		{Role: auth.RoleUser, UserID: 1, ExpiresIn: "forever"},
		{Role: auth.RoleUser, UserID: 1, Label: strings.Repeat("x", 201)},
		{Role: auth.RoleUser, UserID: 1, Label: "bad\xffutf8"},
	}
	for _, s := range bad {
		if _, err := e.toks.Create(context.Background(), s); code(err) != domain.CodeInvalid {
			t.Errorf("%+v: err %v, want invalid", s, err)
		}
	}
	list, _ := e.toks.List(context.Background())
	if len(list) != len(good) {
		t.Errorf("%d tokens stored, want %d (refused specs store nothing)", len(list), len(good))
	}
}

func TestExpiredTokenRefused(t *testing.T) {
	e := newTokens(t)
	tok := e.create(t, auth.TokenSpec{Role: auth.RoleTenant, TenantID: 1, ExpiresIn: "1h"})
	if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("expires_at %v", tok.ExpiresAt)
	}
	p, err := e.toks.Authenticate(context.Background(), tok.Token, "10.0.0.1")
	if err != nil || !p.ExpiresAt.Equal(*tok.ExpiresAt) {
		t.Fatalf("before expiry: %+v, %v", p, err)
	}
	e.clock.Add(time.Hour - time.Millisecond)
	if _, err := e.toks.Authenticate(context.Background(), tok.Token, "10.0.0.1"); err != nil {
		t.Fatalf("a millisecond before expiry: %v", err)
	}
	if err := e.toks.Recheck(context.Background(), p); err != nil {
		t.Fatalf("recheck before expiry: %v", err)
	}
	e.clock.Add(time.Millisecond)
	_, err = e.toks.Authenticate(context.Background(), tok.Token, "10.0.0.1")
	if code(err) != domain.CodeUnauthorized || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("at expiry: %v, want unauthorized (expired)", err)
	}
	if err := e.toks.Recheck(context.Background(), p); code(err) != domain.CodeUnauthorized {
		t.Fatalf("recheck at expiry: %v", err)
	}
}

func TestRevokedTokenRefused(t *testing.T) {
	e := newTokens(t)
	tok := e.create(t, auth.TokenSpec{Role: auth.RoleKasir, CounterID: 1})
	other := e.create(t, auth.TokenSpec{Role: auth.RoleKasir, CounterID: 1})
	p, err := e.toks.Authenticate(context.Background(), tok.Token, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.toks.Revoke(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	if len(e.revoked) != 1 || e.revoked[0] != tok.ID {
		t.Fatalf("onRevoke calls %v, want [%d]", e.revoked, tok.ID)
	}
	_, err = e.toks.Authenticate(context.Background(), tok.Token, "10.0.0.1")
	if code(err) != domain.CodeUnauthorized {
		t.Fatalf("revoked token: %v, want unauthorized", err)
	}
	if err := e.toks.Recheck(context.Background(), p); code(err) != domain.CodeUnauthorized {
		t.Fatalf("recheck revoked: %v", err)
	}
	if _, err := e.toks.Authenticate(context.Background(), other.Token, "10.0.0.1"); err != nil {
		t.Fatalf("the other token: %v", err)
	}
	// Revoking twice is fine; an unknown id is not found.
	if err := e.toks.Revoke(context.Background(), tok.ID); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if err := e.toks.Revoke(context.Background(), 999); code(err) != domain.CodeNotFound {
		t.Fatalf("unknown id: %v", err)
	}
	list, _ := e.toks.List(context.Background())
	if list[0].RevokedAt == nil || list[1].RevokedAt != nil {
		t.Fatalf("list revoked_at: %+v", list)
	}
	// Auth off never rechecks anything.
	if err := e.toks.Recheck(context.Background(), auth.Anonymous); err != nil {
		t.Fatal(err)
	}
}

func TestBadTokensRefused(t *testing.T) {
	e := newTokens(t)
	e.toks.FailBurst = 1000
	good := e.create(t, auth.TokenSpec{Role: auth.RoleAdmin})
	other := e.create(t, auth.TokenSpec{Role: auth.RoleUser, UserID: 1})
	_, secret, _ := strings.Cut(strings.TrimPrefix(good.Token, "posd_"), "_")
	_, otherSecret, _ := strings.Cut(strings.TrimPrefix(other.Token, "posd_"), "_")
	flip := []byte(secret)
	flip[len(flip)-1] ^= 1
	bad := []string{
		"garbage",
		"posd_",
		"posd__",
		"posd_1",
		"posd_1_",
		"posd_x_" + secret,
		"posd_0_" + secret,
		"posd_-1_" + secret,
		"posd_999_" + secret,
		"posd_1_" + string(flip),
		"posd_1_" + secret + "x",
		"posd_1_" + secret[:len(secret)-1],
		"posd_2_" + secret,            // the admin's secret under the user's id
		"posd_1_" + otherSecret,       // the user's secret under the admin's id
		"POSD_1_" + secret,            // prefix is exact
		" posd_1_" + secret,           // no trimming inside the manager
		"posd_1_" + secret + "\x00",   // no NUL games
		"posd_01_" + secret,           // ids parse, but hashes must match their row
		strings.Repeat("posd_1_", 40), // long
		"posd_1_" + strings.Repeat("A", 10000),
	}
	for _, tok := range bad {
		p, err := e.toks.Authenticate(context.Background(), tok, "10.0.0.1")
		if tok == "posd_01_"+secret {
			// "01" parses as id 1 and the secret is right: the holder of the
			// secret authenticates; nothing is gained by the spelling.
			if err != nil || p.TokenID != 1 {
				t.Errorf("posd_01_: %+v, %v", p, err)
			}
			continue
		}
		if code(err) != domain.CodeUnauthorized {
			t.Errorf("token %.40q: %+v, %v; want unauthorized", tok, p, err)
		}
	}
	if _, err := e.toks.Authenticate(context.Background(), "", "10.0.0.1"); code(err) != domain.CodeUnauthorized {
		t.Errorf("empty token: %v", err)
	}
}

func TestRateLimitPerAddress(t *testing.T) {
	e := newTokens(t)
	e.toks.FailBurst = 3
	e.toks.FailEvery = 10 * time.Second
	good := e.create(t, auth.TokenSpec{Role: auth.RoleAdmin})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := e.toks.Authenticate(ctx, "posd_1_wrong", "10.0.0.66"); code(err) != domain.CodeUnauthorized {
			t.Fatalf("failure %d: %v, want unauthorized", i+1, err)
		}
	}
	// The burst is spent: the next attempt is refused without a look, even
	// with a good token, and says how long to wait.
	for _, tok := range []string{"posd_1_wrong", good.Token, ""} {
		_, err := e.toks.Authenticate(ctx, tok, "10.0.0.66")
		var rl *auth.RateLimitError
		if !errors.As(err, &rl) || code(err) != domain.CodeRateLimited {
			t.Fatalf("after the burst (%.10q): %v, want rate_limited", tok, err)
		}
		if rl.RetryAfter() <= 0 || rl.RetryAfter() > 10*time.Second {
			t.Fatalf("retry after %v", rl.RetryAfter())
		}
	}
	// Other addresses are unaffected, failing or not.
	if _, err := e.toks.Authenticate(ctx, good.Token, "10.0.0.7"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if _, err := e.toks.Authenticate(ctx, "posd_1_wrong", "10.0.0.8"); code(err) != domain.CodeUnauthorized {
		t.Fatalf("another address failing: %v", err)
	}
	// Refused attempts do not extend the wait; after FailEvery one more try.
	e.clock.Add(10 * time.Second)
	if _, err := e.toks.Authenticate(ctx, good.Token, "10.0.0.66"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	if _, err := e.toks.Authenticate(ctx, "posd_1_wrong", "10.0.0.66"); code(err) != domain.CodeUnauthorized {
		t.Fatalf("one more failure: %v", err)
	}
	if _, err := e.toks.Authenticate(ctx, good.Token, "10.0.0.66"); code(err) != domain.CodeRateLimited {
		t.Fatalf("right after it: %v, want rate_limited", err)
	}
	// A missing or expired token is not a guess and does not count.
	e.clock.Add(time.Hour)
	for i := 0; i < 10; i++ {
		if _, err := e.toks.Authenticate(ctx, "", "10.0.0.9"); code(err) != domain.CodeUnauthorized {
			t.Fatalf("missing token %d: %v", i, err)
		}
	}
	if _, err := e.toks.Authenticate(ctx, good.Token, "10.0.0.9"); err != nil {
		t.Fatalf("missing tokens counted as failures: %v", err)
	}
}

func TestRevokedTokenCountsAsFailure(t *testing.T) {
	e := newTokens(t)
	e.toks.FailBurst = 2
	tok := e.create(t, auth.TokenSpec{Role: auth.RoleUser, UserID: 1})
	if err := e.toks.Revoke(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.toks.Authenticate(context.Background(), tok.Token, "10.0.0.1"); code(err) != domain.CodeUnauthorized {
			t.Fatal(err)
		}
	}
	if _, err := e.toks.Authenticate(context.Background(), tok.Token, "10.0.0.1"); code(err) != domain.CodeRateLimited {
		t.Fatalf("third use of a revoked token: %v", err)
	}
}

// TestRateLimitKey: a new port is not a new address, and an IPv6 client's
// /64 is one address.
func TestRateLimitKey(t *testing.T) {
	e := newTokens(t)
	e.toks.FailBurst = 2
	ctx := context.Background()
	for i, remote := range []string{"10.0.0.5:40001", "10.0.0.5:40002"} {
		if _, err := e.toks.Authenticate(ctx, "posd_1_x", remote); code(err) != domain.CodeUnauthorized {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	for _, remote := range []string{"10.0.0.5:40003", "10.0.0.5"} {
		if _, err := e.toks.Authenticate(ctx, "posd_1_x", remote); code(err) != domain.CodeRateLimited {
			t.Fatalf("from %s: %v, want rate_limited", remote, err)
		}
	}
	for i, remote := range []string{"[2001:db8:1:2::1]:5000", "2001:db8:1:2:ffff::9"} {
		if _, err := e.toks.Authenticate(ctx, "posd_1_x", remote); code(err) != domain.CodeUnauthorized {
			t.Fatalf("v6 failure %d: %v", i, err)
		}
	}
	if _, err := e.toks.Authenticate(ctx, "posd_1_x", "[2001:db8:1:2:abcd::1]:1"); code(err) != domain.CodeRateLimited {
		t.Fatalf("same /64: %v", err)
	}
	if _, err := e.toks.Authenticate(ctx, "posd_1_x", "[2001:db8:1:3::1]:1"); code(err) != domain.CodeUnauthorized {
		t.Fatalf("another /64: %v", err)
	}
	if _, err := e.toks.Authenticate(ctx, "posd_1_x", "10.0.0.6:40001"); code(err) != domain.CodeUnauthorized {
		t.Fatalf("another v4 address: %v", err)
	}
}
