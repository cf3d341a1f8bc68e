package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

const eventCols = `e.id, e.name, e.type, e.ts, e.data, e.severity, e.message, e.rooms`

func scanEvent(r pgx.Row) (domain.Event, error) {
	var ev domain.Event
	var ts int64
	var data *string
	var rooms string
	if err := r.Scan(&ev.ID, &ev.Name, &ev.Type, &ts, &data, &ev.Severity, &ev.Message, &rooms); err != nil {
		return ev, err
	}
	ev.Timestamp = fromMS(ts)
	if data != nil {
		ev.Data = []byte(*data)
	}
	if rooms != "" {
		ev.Rooms = strings.Split(rooms, ",")
	}
	return ev, nil
}

// maxReadEvents caps one read of the log.
const maxReadEvents = 5000

// ReadEvents returns up to limit events after id `after` addressed to any of
// rooms or to every connection, in id order. With no rooms it reads every
// event (history across rooms, for admins).
func (s *Store) ReadEvents(ctx context.Context, after int64, rooms []string, limit int) ([]domain.Event, error) {
	if limit <= 0 || limit > maxReadEvents {
		limit = maxReadEvents
	}
	if rooms == nil {
		return s.queryEvents(ctx, `SELECT `+eventCols+` FROM events e WHERE e.id > $1 ORDER BY e.id LIMIT $2`, after, limit)
	}
	return s.queryEvents(ctx, `SELECT `+eventCols+` FROM events e WHERE e.id IN (
			SELECT DISTINCT event_id FROM event_rooms WHERE event_id > $1 AND room = ANY($2)
			ORDER BY event_id LIMIT $3) ORDER BY e.id`, after, append([]string{domain.RoomAll}, rooms...), limit)
}

// ReadLog returns up to limit events with ids above after, in id order,
// every room, each with its rooms: what a follower replays. Ids become
// visible in id order (see appendEvent), so a follower that reads on from
// the last id it saw never misses one.
func (s *Store) ReadLog(ctx context.Context, after int64, limit int) ([]domain.Event, error) {
	return s.ReadEvents(ctx, after, nil, limit)
}

func (s *Store) queryEvents(ctx context.Context, q string, args ...any) ([]domain.Event, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, readErr("read events", err)
	}
	defer rows.Close()
	var out []domain.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, readErr("read events", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("read events", err)
	}
	return out, nil
}

// Horizon is the highest event id retention has deleted: a replay from an
// id below it may miss events.
func (s *Store) Horizon(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT value FROM log_meta WHERE key = 'pruned_through'`).Scan(&v); err != nil {
		return 0, readErr("read log horizon", err)
	}
	return v, nil
}

// HorizonFor is Horizon for a connection in rooms: the highest id retention
// has deleted among the events addressed to any of rooms or to every
// connection. With rooms nil it is the global Horizon.
func (s *Store) HorizonFor(ctx context.Context, rooms []string) (int64, error) {
	if rooms == nil {
		return s.Horizon(ctx)
	}
	keys := []string{roomHorizonKey(domain.RoomAll)}
	for _, r := range rooms {
		keys = append(keys, roomHorizonKey(r))
	}
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(value), 0) FROM log_meta WHERE key = ANY($1)`, keys).Scan(&v); err != nil {
		return 0, readErr("read log horizon", err)
	}
	return v, nil
}

func roomHorizonKey(room string) string { return "room:" + room }

// LastEventID is the newest committed event id (0 for an empty log).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT last_id FROM log_head`).Scan(&v); err != nil {
		return 0, readErr("read last event id", err)
	}
	return v, nil
}

// writeTx runs fn in a transaction of its own, for the writes outside
// Write's contract (prunes, tokens, recovery records); retried like Write.
func (s *Store) writeTx(ctx context.Context, fn func(pgx.Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil {
			return nil
		}
		if attempt > maxRetries || !retryable(err) {
			return unavailable(err)
		}
		time.Sleep(retryPause(attempt))
	}
}

// Retention runs on one node of the cluster at a time: the node whose
// prune takes its key's transaction-scoped advisory lock. The others find
// it taken and return at once, instead of reading the same candidates and
// queueing on the same rows. The lock goes with its transaction, so a node
// that dies while pruning leaves it to the next one that tries.
const (
	pruneLock     int64 = 0x706f7364_7072756e // "posdprun"
	pruneIdemLock int64 = 0x706f7364_6964656d // "posdidem"
)

// onePruner runs fn if this node takes lock, and reports whether it did.
// The lock is held by a transaction of its own, open for fn's duration.
func (s *Store) onePruner(ctx context.Context, lock int64, fn func() error) (bool, error) {
	guard, err := s.pool.Begin(ctx)
	if err != nil {
		return false, readErr("prune", err)
	}
	defer func() { _ = guard.Rollback(context.WithoutCancel(ctx)) }()
	// The guard sits idle in its transaction while fn works on other
	// connections; the server must not end it for that.
	if _, err := guard.Exec(ctx, `SET LOCAL idle_in_transaction_session_timeout = 0`); err != nil {
		return false, readErr("prune", err)
	}
	var got bool
	if err := guard.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, lock).Scan(&got); err != nil {
		return false, readErr("prune", err)
	}
	if !got {
		return false, nil
	}
	return true, fn()
}

// Prune deletes events older than cutoff, except the newest keepPerRoom of
// every room, in small batches so appends are never held up for long. It
// returns how many events it deleted. One node of the cluster prunes at a
// time (onePruner); the others return 0 at once. Were two to prune at
// once anyway, a row deleted twice is deleted once, and the horizons only
// go up.
func (s *Store) Prune(ctx context.Context, cutoff time.Time, keepPerRoom int) (int, error) {
	total := 0
	_, err := s.onePruner(ctx, pruneLock, func() error {
		var err error
		total, err = s.prune(ctx, cutoff, keepPerRoom)
		return err
	})
	return total, err
}

func (s *Store) prune(ctx context.Context, cutoff time.Time, keepPerRoom int) (int, error) {
	// Per room, the id of its keepPerRoom-th newest event: nothing at or
	// above it may go.
	rows, err := s.pool.Query(ctx, pruneFloors, max(keepPerRoom-1, 0))
	if err != nil {
		return 0, readErr("prune", err)
	}
	floor := map[string]int64{}
	for rows.Next() {
		var room string
		var id *int64
		if err := rows.Scan(&room, &id); err != nil {
			rows.Close()
			return 0, readErr("prune", err)
		}
		if id != nil {
			floor[room] = *id
		} else {
			floor[room] = 0 // fewer than keepPerRoom events: keep them all
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, readErr("prune", err)
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
// event (OFFSET $1). The rooms are found by seeking from one to the next
// along event_rooms' primary key (a loose index scan), not by DISTINCT,
// which reads every row.
const pruneFloors = `WITH RECURSIVE r(room) AS (
		SELECT (SELECT MIN(room) FROM event_rooms)
		UNION ALL
		SELECT (SELECT MIN(room) FROM event_rooms WHERE room > r.room) FROM r WHERE r.room IS NOT NULL
	)
	SELECT room, (SELECT event_id FROM event_rooms r2 WHERE r2.room = r.room ORDER BY event_id DESC LIMIT 1 OFFSET $1)
	FROM r WHERE room IS NOT NULL`

// pruneCandidates reads the log by id from the prune's cursor on; the
// prune stops at the first event young enough to keep. Events are appended
// in time order (created_at is the writer's clock, taken before the log
// lock), so what follows it is younger still, but for clock skew between
// nodes or a clock stepped back: an older event behind a younger one waits
// for a later prune. Retention keeps events at least as long as asked,
// never less.
const pruneCandidates = `SELECT id, rooms, created_at FROM events WHERE id > $1 ORDER BY id LIMIT $2`

// pruneBatch deletes up to batch events older than cutoff with ids above
// after, reading at most 4×batch candidates. It returns where the next batch
// starts, and whether there may be more.
func (s *Store) pruneBatch(ctx context.Context, cutoff time.Time, floor map[string]int64, hold *int64, after int64, batch int) (n int, next int64, more bool, err error) {
	plan := store.NewPrunePlan(floor, cutoff, batch, after)
	if hold != nil {
		plan.KeepAbove(*hold)
	}
	rows, err := s.pool.Query(ctx, pruneCandidates, after, plan.Limit())
	if err != nil {
		return 0, after, false, readErr("prune", err)
	}
	for rows.Next() {
		var id, created int64
		var rooms string
		if err := rows.Scan(&id, &rooms, &created); err != nil {
			rows.Close()
			return 0, after, false, readErr("prune", err)
		}
		if !plan.Consider(id, rooms, created) {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, after, false, readErr("prune", err)
	}
	victims, top, roomTop, next, more := plan.Victims, plan.Top, plan.RoomTop, plan.Next, plan.More()
	if len(victims) == 0 {
		return 0, next, more, nil
	}
	keys := make([]string, 0, len(roomTop))
	tops := make([]int64, 0, len(roomTop))
	for room, id := range roomTop {
		keys = append(keys, roomHorizonKey(room))
		tops = append(tops, id)
	}
	err = s.writeTx(ctx, func(tx pgx.Tx) error {
		// event_rooms rows go with their events (ON DELETE CASCADE).
		if _, err := tx.Exec(ctx, `DELETE FROM events WHERE id = ANY($1)`, victims); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE log_meta SET value = GREATEST(value, $1) WHERE key = 'pruned_through'`, top); err != nil {
			return err
		}
		// Sorted by key, so that two nodes pruning at once lock the rows
		// in the same order.
		_, err := tx.Exec(ctx, `INSERT INTO log_meta (key, value)
			SELECT k, v FROM unnest($1::text[], $2::bigint[]) AS u(k, v) ORDER BY k
			ON CONFLICT (key) DO UPDATE SET value = GREATEST(log_meta.value, excluded.value)`, keys, tops)
		return err
	})
	if err != nil {
		return 0, after, false, fmt.Errorf("prune: %w", err)
	}
	return len(victims), next, more, nil
}

// PruneIdempotency forgets idempotency keys older than cutoff. Like Prune
// it runs on one node at a time; the others return 0 at once.
func (s *Store) PruneIdempotency(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		n = 0
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, pruneIdemLock).Scan(&got); err != nil || !got {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, ms(cutoff))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return n, nil
}
