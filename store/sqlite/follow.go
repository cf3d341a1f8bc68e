package sqlite

import (
	"context"

	"github.com/posd/posd/internal/domain"
)

// ReadLog returns up to limit events after id `after`, every room, in id
// order, with their rooms: what the hub's follower reads when the log
// holds commits it was not handed.
func (s *Store) ReadLog(ctx context.Context, after int64, limit int) ([]domain.Event, error) {
	return s.ReadEvents(ctx, after, nil, limit)
}
