package service

import (
	"testing"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

// takenTx says the first `taken` pickup codes asked about are in use.
type takenTx struct {
	store.Tx
	taken int
	asked []string
}

func (t *takenTx) QRByCode(code string) (*domain.QRCode, error) {
	t.asked = append(t.asked, code)
	if len(t.asked) <= t.taken {
		return &domain.QRCode{Code: code}, nil
	}
	return nil, domain.Errorf(domain.CodeNotFound, "unknown pickup code")
}

// A pickup code already in use is drawn again; a store where every draw
// collides fails the order rather than give two orders one code.
func TestFreePickupCodeRetriesOnCollision(t *testing.T) {
	tx := &takenTx{taken: 3}
	code, err := freePickupCode(tx)
	if err != nil || len(tx.asked) != 4 || code != tx.asked[3] {
		t.Fatalf("code %q, %v after asking %q; want the 4th draw", code, err, tx.asked)
	}
	if _, ok := domain.NormalizePickupCode(code); !ok {
		t.Fatalf("drew %q, not a pickup code", code)
	}
	full := &takenTx{taken: 1 << 30}
	if code, err := freePickupCode(full); err == nil || len(full.asked) != pickupCodeTries {
		t.Fatalf("with every code taken: %q, %v after %d draws; want an error after %d", code, err, len(full.asked), pickupCodeTries)
	}
}
