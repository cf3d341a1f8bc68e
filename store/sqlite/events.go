package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

const eventCols = `e.id, e.name, e.type, e.ts, e.data, e.severity, e.message, e.rooms`

func scanEvent(r scanner) (domain.Event, error) {
	var ev domain.Event
	var ts int64
	var data sql.NullString
	var rooms string
	if err := r.Scan(&ev.ID, &ev.Name, &ev.Type, &ts, &data, &ev.Severity, &ev.Message, &rooms); err != nil {
		return ev, err
	}
	ev.Timestamp = fromMS(ts)
	if data.Valid {
		ev.Data = []byte(data.String)
	}
	if rooms != "" {
		ev.Rooms = strings.Split(rooms, ",")
	}
	return ev, nil
}

// ReadEvents returns up to limit events after id `after` addressed to any of
// rooms or to every connection, in id order. With no rooms it reads every
// event (history across rooms, for admins).
func (s *Store) ReadEvents(ctx context.Context, after int64, rooms []string, limit int) ([]domain.Event, error) {
	if limit <= 0 || limit > 5000 {
		limit = 5000
	}
	var q string
	args := []any{after}
	if rooms == nil {
		q = `SELECT ` + eventCols + ` FROM events e WHERE e.id > ? ORDER BY e.id LIMIT ?`
	} else {
		q = `SELECT ` + eventCols + ` FROM events e WHERE e.id IN (
			SELECT DISTINCT event_id FROM event_rooms WHERE event_id > ? AND room IN (` + placeholders(len(rooms)+1) + `)
			ORDER BY event_id LIMIT ?) ORDER BY e.id`
		args = append(args, domain.RoomAll)
		for _, r := range rooms {
			args = append(args, r)
		}
	}
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []domain.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Horizon is the highest event id retention has deleted: a replay from an
// id below it may miss events.
func (s *Store) Horizon(ctx context.Context) (int64, error) {
	var v int64
	err := s.rdb.QueryRowContext(ctx, `SELECT value FROM log_meta WHERE key = 'pruned_through'`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read log horizon: %w", err)
	}
	return v, nil
}

// HorizonFor is Horizon for a connection in rooms: the highest id retention
// has deleted among the events addressed to any of rooms or to every
// connection. A quiet room whose events keep-per-room kept has a horizon far
// below the global one. With rooms nil it is the global Horizon.
func (s *Store) HorizonFor(ctx context.Context, rooms []string) (int64, error) {
	if rooms == nil {
		return s.Horizon(ctx)
	}
	args := []any{roomHorizonKey(domain.RoomAll)}
	for _, r := range rooms {
		args = append(args, roomHorizonKey(r))
	}
	var v int64
	err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(value), 0) FROM log_meta WHERE key IN (`+placeholders(len(args))+`)`, args...).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read log horizon: %w", err)
	}
	return v, nil
}

func roomHorizonKey(room string) string { return "room:" + room }

// LastEventID is the newest event id (0 for an empty log).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var v int64
	err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read last event id: %w", err)
	}
	return v, nil
}

// Prune deletes events older than cutoff, except the newest keepPerRoom of
// every room, in small batches so writers are never held up for long. It
// returns how many events it deleted.
func (s *Store) Prune(ctx context.Context, cutoff time.Time, keepPerRoom int) (int, error) {
	// Per room, the id of its keepPerRoom-th newest event: nothing at or
	// above it may go. Read outside the write lock.
	rows, err := s.rdb.QueryContext(ctx, pruneFloors, keepPerRoom-1)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	floor := map[string]int64{}
	for rows.Next() {
		var room string
		var id sql.NullInt64
		if err := rows.Scan(&room, &id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("prune: %w", err)
		}
		if id.Valid {
			floor[room] = id.Int64
		} else {
			floor[room] = 0 // fewer than keepPerRoom events: keep them all
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	// An active webhook endpoint's backlog stays until it is delivered
	// (or the endpoint is paused, disabled or removed).
	var hold *int64
	if v, ok, err := s.webhookFloor(ctx); err != nil {
		return 0, err
	} else if ok {
		hold = &v
	}
	return store.PruneBatches(ctx, func(after int64) (int, int64, bool, error) {
		return s.pruneBatch(ctx, cutoff, floor, hold, after, pruneBatchSize)
	})
}

// pruneBatchSize is how many events one prune transaction deletes at most.
var pruneBatchSize = 500

// pruneFloors lists every room with the id of its keepPerRoom-th newest
// event (OFFSET ?). The rooms are found by seeking from one to the next
// along event_rooms' primary key, not by DISTINCT, which reads every row:
// a prune that runs each minute then costs a few seeks per room, however
// long the log.
const pruneFloors = `WITH RECURSIVE r(room) AS (
		SELECT (SELECT MIN(room) FROM event_rooms)
		UNION ALL
		SELECT (SELECT MIN(room) FROM event_rooms WHERE room > r.room) FROM r WHERE r.room IS NOT NULL
	)
	SELECT room, (SELECT event_id FROM event_rooms r2 WHERE r2.room = r.room ORDER BY event_id DESC LIMIT 1 OFFSET ?)
	FROM r WHERE room IS NOT NULL`

// pruneCandidates reads the log by id from the prune's cursor on; the
// prune stops at the first event young enough to keep. Events are appended
// in time order (created_at is the writer's clock, under the writer lock),
// so what follows it is younger still. Should the clock have stepped back,
// an older event behind a younger one waits for a later prune: retention
// keeps events at least as long as asked, never less. The one index this
// needs is the primary key, so the events table has no index on created_at
// (migration 0004).
const pruneCandidates = `SELECT id, rooms, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?`

// pruneBatch deletes up to batch events older than cutoff with ids above
// after, reading at most 4×batch candidates. It returns where the next batch
// starts, and whether there may be more: old events that keep-per-room
// keeps (a quiet room's, a user's notifications) are stepped over, however
// many of them come first.
func (s *Store) pruneBatch(ctx context.Context, cutoff time.Time, floor map[string]int64, hold *int64, after int64, batch int) (n int, next int64, more bool, err error) {
	plan := store.NewPrunePlan(floor, cutoff, batch, after)
	if hold != nil {
		plan.KeepAbove(*hold)
	}
	rows, err := s.rdb.QueryContext(ctx, pruneCandidates, after, plan.Limit())
	if err != nil {
		return 0, after, false, fmt.Errorf("prune: %w", err)
	}
	for rows.Next() {
		var id, created int64
		var rooms string
		if err := rows.Scan(&id, &rooms, &created); err != nil {
			rows.Close()
			return 0, after, false, fmt.Errorf("prune: %w", err)
		}
		if !plan.Consider(id, rooms, created) {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, after, false, fmt.Errorf("prune: %w", err)
	}
	victims, top, roomTop, next, more := plan.Victims, plan.Top, plan.RoomTop, plan.Next, plan.More()
	if len(victims) == 0 {
		return 0, next, more, nil
	}
	args := make([]any, len(victims))
	for i, id := range victims {
		args[i] = id
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		in := placeholders(len(victims))
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_rooms WHERE event_id IN (`+in+`)`, args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id IN (`+in+`)`, args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE log_meta SET value = MAX(value, ?) WHERE key = 'pruned_through'`, top); err != nil {
			return err
		}
		for room, id := range roomTop {
			if _, err := tx.ExecContext(ctx, `INSERT INTO log_meta (key, value) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)`, roomHorizonKey(room), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, after, false, fmt.Errorf("prune: %w", err)
	}
	return len(victims), next, more, nil
}

// PruneIdempotency forgets idempotency keys older than cutoff.
func (s *Store) PruneIdempotency(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, ms(cutoff))
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return n, nil
}
