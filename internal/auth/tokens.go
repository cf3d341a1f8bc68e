package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/edge"
	"github.com/posd/posd/store"
)

// TokenStore is where token hashes live.
type TokenStore interface {
	InsertToken(ctx context.Context, t *store.TokenRow) error
	Tokens(ctx context.Context) ([]store.TokenRow, error)
	RevokeToken(ctx context.Context, id int64, at time.Time) (bool, error)
	TokenByID(ctx context.Context, id int64) (*store.TokenRow, error)
}

// TokenSpec is a request for a new token.
type TokenSpec struct {
	Role      Role   `json:"role"`
	TenantID  int64  `json:"tenant_id,omitempty"`
	CounterID int64  `json:"counter_id,omitempty"`
	UserID    int64  `json:"user_id,omitempty"`
	Display   bool   `json:"display,omitempty"`
	Label     string `json:"name,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"` // a Go duration such as 720h
}

// IssuedToken is a new token; Token is shown this once and never stored.
type IssuedToken struct {
	ID        int64      `json:"id"`
	Token     string     `json:"token"`
	Role      Role       `json:"role"`
	TenantID  int64      `json:"tenant_id,omitempty"`
	CounterID int64      `json:"counter_id,omitempty"`
	UserID    int64      `json:"user_id,omitempty"`
	Display   bool       `json:"display,omitempty"`
	Label     string     `json:"name,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Tokens issues, checks and revokes tokens. A token reads
// `posd_{id}_{secret}`: the id finds the row, the SHA-256 of the 256-bit
// secret is compared in constant time, so nothing about the secret leaks
// through lookup timing.
type Tokens struct {
	store    TokenStore
	now      func() time.Time
	onRevoke func(id int64)

	mu         sync.Mutex
	failures   map[string]*rate.Limiter
	maxTracked int // bound on len(failures)
	// Failed attempts per remote address: a burst of FailBurst, then one
	// every FailEvery.
	FailBurst int
	FailEvery time.Duration
}

// NewTokens builds the token manager; onRevoke is called after a revocation
// (the server closes that token's live connections there).
func NewTokens(s TokenStore, now func() time.Time, onRevoke func(id int64)) *Tokens {
	if now == nil {
		now = time.Now
	}
	if onRevoke == nil {
		onRevoke = func(int64) {}
	}
	return &Tokens{store: s, now: now, onRevoke: onRevoke, failures: map[string]*rate.Limiter{}, maxTracked: 10_000, FailBurst: 10, FailEvery: 6 * time.Second}
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Create issues a token for spec.
func (t *Tokens) Create(ctx context.Context, spec TokenSpec) (IssuedToken, error) {
	if err := spec.check(); err != nil {
		return IssuedToken{}, err
	}
	var exp *time.Time
	if spec.ExpiresIn != "" {
		d, err := time.ParseDuration(spec.ExpiresIn)
		if err != nil || d <= 0 {
			return IssuedToken{}, domain.Errorf(domain.CodeInvalid, "expires_in must be a positive duration such as 720h, not %q", spec.ExpiresIn)
		}
		e := t.now().Add(d).UTC()
		exp = &e
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return IssuedToken{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	row := &store.TokenRow{
		Hash: hashSecret(secret), Role: string(spec.Role), TenantID: spec.TenantID, CounterID: spec.CounterID,
		UserID: spec.UserID, Display: spec.Display, Label: spec.Label, CreatedAt: t.now().UTC(), ExpiresAt: exp,
	}
	if err := t.store.InsertToken(ctx, row); err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{
		ID: row.ID, Token: "posd_" + strconv.FormatInt(row.ID, 10) + "_" + secret, Role: spec.Role,
		TenantID: spec.TenantID, CounterID: spec.CounterID, UserID: spec.UserID, Display: spec.Display,
		Label: spec.Label, ExpiresAt: exp,
	}, nil
}

func (s TokenSpec) check() error {
	role, err := ParseRole(string(s.Role))
	if err != nil {
		return err
	}
	if err := domain.CheckText("name", s.Label, 200, false); err != nil {
		return err
	}
	bad := func(msg string) error { return domain.Errorf(domain.CodeInvalid, "role %s: %s", role, msg) }
	for _, id := range []int64{s.TenantID, s.CounterID, s.UserID} {
		if id < 0 || id > domain.MaxRoomID {
			return bad("ids must be positive integers")
		}
	}
	switch role {
	case RoleAdmin:
		if s.TenantID != 0 || s.CounterID != 0 || s.UserID != 0 || s.Display {
			return bad("takes no tenant, counter, user or display scope")
		}
	case RoleTenant:
		if s.TenantID == 0 || s.CounterID != 0 || s.UserID != 0 || s.Display {
			return bad("needs tenant_id and nothing else")
		}
	case RoleKasir:
		if s.CounterID == 0 || s.TenantID != 0 || s.UserID != 0 || s.Display {
			return bad("needs counter_id and nothing else")
		}
	case RoleDisplay:
		if (!s.Display && s.TenantID == 0) || s.CounterID != 0 || s.UserID != 0 {
			return bad("needs display=true and/or tenant_id")
		}
	case RoleUser:
		if s.UserID == 0 || s.TenantID != 0 || s.CounterID != 0 || s.Display {
			return bad("needs user_id and nothing else")
		}
	}
	return nil
}

// List returns every token (hashes omitted).
func (t *Tokens) List(ctx context.Context) ([]store.TokenRow, error) { return t.store.Tokens(ctx) }

// Revoke revokes a token at once: later requests are refused and its open
// connections are closed.
func (t *Tokens) Revoke(ctx context.Context, id int64) error {
	ok, err := t.store.RevokeToken(ctx, id, t.now())
	if err != nil {
		return err
	}
	if !ok {
		return domain.Errorf(domain.CodeNotFound, "token %d not found", id)
	}
	t.onRevoke(id)
	return nil
}

// RateLimitError refuses a request from an address with too many failures.
type RateLimitError struct{ Wait time.Duration }

func (e *RateLimitError) Error() string {
	return "rate_limited: too many failed authentications from this address; retry in " + e.Wait.Round(time.Second).String()
}

// Unwrap gives the coded error the API maps to 429.
func (e *RateLimitError) Unwrap() error {
	return &domain.Error{Code: domain.CodeRateLimited, Message: "too many failed authentications from this address; retry in " + e.Wait.Round(time.Second).String()}
}

// RetryAfter is the wait the API sends as Retry-After.
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }

// Authenticate resolves a token; see Authenticator.
func (t *Tokens) Authenticate(ctx context.Context, token, remote string) (Principal, error) {
	remote = edge.AddrKey(remote)
	if wait := t.blocked(remote); wait > 0 {
		return Principal{}, &RateLimitError{Wait: wait}
	}
	if token == "" {
		return Principal{}, domain.Errorf(domain.CodeUnauthorized, "missing token: send Authorization: Bearer <token>")
	}
	row, err := t.lookup(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	if row == nil {
		t.fail(remote)
		return Principal{}, domain.Errorf(domain.CodeUnauthorized, "invalid token")
	}
	if row.RevokedAt != nil {
		t.fail(remote)
		return Principal{}, domain.Errorf(domain.CodeUnauthorized, "token revoked")
	}
	if row.ExpiresAt != nil && !t.now().Before(*row.ExpiresAt) {
		return Principal{}, domain.Errorf(domain.CodeUnauthorized, "token expired")
	}
	return principalOf(row), nil
}

func principalOf(row *store.TokenRow) Principal {
	p := Principal{
		TokenID: row.ID, Role: Role(row.Role), TenantID: row.TenantID, CounterID: row.CounterID,
		UserID: row.UserID, Display: row.Display,
	}
	if row.ExpiresAt != nil {
		p.ExpiresAt = *row.ExpiresAt
	}
	return p
}

// Recheck reports whether p's token is still good (not revoked, not
// expired); see Rechecker. It does not count towards the rate limit.
func (t *Tokens) Recheck(ctx context.Context, p Principal) error {
	if p.TokenID == 0 {
		return nil
	}
	row, err := t.store.TokenByID(ctx, p.TokenID)
	if err != nil {
		return err
	}
	switch {
	case row == nil || row.RevokedAt != nil:
		return domain.Errorf(domain.CodeUnauthorized, "token revoked")
	case row.ExpiresAt != nil && !t.now().Before(*row.ExpiresAt):
		return domain.Errorf(domain.CodeUnauthorized, "token expired")
	}
	return nil
}

func (t *Tokens) lookup(ctx context.Context, token string) (*store.TokenRow, error) {
	rest, ok := strings.CutPrefix(token, "posd_")
	if !ok || len(token) > 200 {
		return nil, nil
	}
	idStr, secret, ok := strings.Cut(rest, "_")
	if !ok {
		return nil, nil
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		return nil, nil
	}
	row, err := t.store.TokenByID(ctx, id)
	if err != nil || row == nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(row.Hash)) != 1 {
		return nil, nil
	}
	return row, nil
}

// blocked reports how long remote must wait, or 0.
func (t *Tokens) blocked(remote string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.failures[remote]
	if l == nil {
		return 0
	}
	now := t.now()
	if l.TokensAt(now) >= 1 {
		return 0
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	if d <= 0 {
		return 0
	}
	return d
}

// CountFailure counts a failed authentication from remote that
// Authenticate did not count: a transport where an attempt without a token
// costs the server as much as one with a wrong token (a Socket.IO CONNECT)
// reports it here, so the same per-address limit applies.
func (t *Tokens) CountFailure(remote string) { t.fail(edge.AddrKey(remote)) }

func (t *Tokens) fail(remote string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.failures[remote]
	if l == nil {
		if len(t.failures) >= t.maxTracked { // forget idle addresses rather than grow without bound
			now := t.now()
			for k, v := range t.failures {
				if v.TokensAt(now) >= float64(t.FailBurst) {
					delete(t.failures, k)
				}
			}
			if len(t.failures) >= t.maxTracked {
				return // all busy: memory stays bounded; this address goes uncounted
			}
		}
		l = rate.NewLimiter(rate.Every(t.FailEvery), t.FailBurst)
		t.failures[remote] = l
	}
	l.AllowN(t.now(), 1)
}
