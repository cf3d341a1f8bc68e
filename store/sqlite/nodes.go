package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/posd/posd/store"
)

// Heartbeat records what node n holds now and forgets long-silent nodes.
// One process owns a SQLite file, so the table holds this node (and the
// rows of earlier runs until they are forgotten).
func (s *Store) Heartbeat(ctx context.Context, n store.NodeInfo) error {
	rooms, err := json.Marshal(nonNilRooms(n.Rooms))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	now := s.opts.Now()
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO nodes (id, addr, started_at, heartbeat_at, connections, rooms, delivered)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
				connections = excluded.connections, rooms = excluded.rooms, delivered = excluded.delivered`,
			n.ID, n.Addr, ms(n.StartedAt), ms(now), n.Connections, string(rooms), n.Delivered); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE heartbeat_at < ?`, ms(now.Add(-store.NodeForgetAfter)))
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Nodes lists the nodes' last heartbeats by id.
func (s *Store) Nodes(ctx context.Context) ([]store.NodeInfo, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, addr, started_at, heartbeat_at, connections, rooms, delivered FROM nodes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	out := []store.NodeInfo{}
	for rows.Next() {
		var n store.NodeInfo
		var started, beat int64
		var rooms string
		if err := rows.Scan(&n.ID, &n.Addr, &started, &beat, &n.Connections, &rooms, &n.Delivered); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		n.StartedAt, n.HeartbeatAt = fromMS(started), fromMS(beat)
		if err := json.Unmarshal([]byte(rooms), &n.Rooms); err != nil {
			return nil, fmt.Errorf("list nodes: node %s: %w", n.ID, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

// RemoveNode forgets node id.
func (s *Store) RemoveNode(ctx context.Context, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove node: %w", err)
	}
	return nil
}

// NodeAddr is node id's advertised address and whether it is live.
func (s *Store) NodeAddr(ctx context.Context, id string) (string, bool, error) {
	var addr string
	var beat int64
	err := s.rdb.QueryRowContext(ctx, `SELECT addr, heartbeat_at FROM nodes WHERE id = ?`, id).Scan(&addr, &beat)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("node address: %w", err)
	}
	return addr, store.NodeInfo{HeartbeatAt: fromMS(beat)}.Live(s.opts.Now()), nil
}

// Broadcast does nothing: one process owns a SQLite file, and the caller
// has carried the command out on its own connections.
func (s *Store) Broadcast(context.Context, store.Command) error { return nil }

func nonNilRooms(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}
