package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/store"
)

// CommandChannel carries Broadcast's commands, one JSON store.Command per
// notification.
const CommandChannel = "posd_cmd"

// maxCommandBytes keeps a command far below PostgreSQL's 8000-byte
// notification payload limit; commands are a kind, a node id and a room
// name or token id.
const maxCommandBytes = 1000

// Heartbeat records what node n holds now and forgets nodes silent for
// store.NodeForgetAfter. heartbeat_at is this node's clock: liveness
// compares clocks of different machines, which NodeLiveFor's margin
// (several heartbeats) absorbs when they are kept in sync.
func (s *Store) Heartbeat(ctx context.Context, n store.NodeInfo) error {
	rooms := n.Rooms
	if rooms == nil {
		rooms = map[string]int{}
	}
	raw, err := json.Marshal(rooms)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	now := s.opts.Now()
	err = s.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO nodes (id, addr, started_at, heartbeat_at, connections, rooms, delivered)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
				connections = excluded.connections, rooms = excluded.rooms, delivered = excluded.delivered`,
			n.ID, n.Addr, ms(n.StartedAt), ms(now), n.Connections, string(raw), n.Delivered); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM nodes WHERE heartbeat_at < $1`, ms(now.Add(-store.NodeForgetAfter)))
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Nodes lists the nodes' last heartbeats by id.
func (s *Store) Nodes(ctx context.Context) ([]store.NodeInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, addr, started_at, heartbeat_at, connections, rooms, delivered FROM nodes ORDER BY id`)
	if err != nil {
		return nil, readErr("list nodes", err)
	}
	defer rows.Close()
	out := []store.NodeInfo{}
	for rows.Next() {
		var n store.NodeInfo
		var started, beat, conns int64
		var rooms string
		if err := rows.Scan(&n.ID, &n.Addr, &started, &beat, &conns, &rooms, &n.Delivered); err != nil {
			return nil, readErr("list nodes", err)
		}
		n.StartedAt, n.HeartbeatAt, n.Connections = fromMS(started), fromMS(beat), int(conns)
		if err := json.Unmarshal([]byte(rooms), &n.Rooms); err != nil {
			return nil, fmt.Errorf("list nodes: node %s: %w", n.ID, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("list nodes", err)
	}
	return out, nil
}

// RemoveNode forgets node id.
func (s *Store) RemoveNode(ctx context.Context, id string) error {
	err := s.writeTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, id)
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
	err := s.pool.QueryRow(ctx, `SELECT addr, heartbeat_at FROM nodes WHERE id = $1`, id).Scan(&addr, &beat)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, readErr("node address", err)
	}
	return addr, store.NodeInfo{HeartbeatAt: fromMS(beat)}.Live(s.opts.Now()), nil
}

// Broadcast sends cmd to every node's listener (this one's included) as a
// NOTIFY on CommandChannel. It is sent on its own, not inside a write: a
// NOTIFY in a transaction is delivered only at its commit, and the
// commands are about connections, not data.
func (s *Store) Broadcast(ctx context.Context, cmd store.Command) error {
	raw, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	if len(raw) > maxCommandBytes {
		return fmt.Errorf("broadcast: command of %d bytes is too large", len(raw))
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channels.cmd, string(raw)); err != nil {
		return readErr("broadcast", err)
	}
	return nil
}

// command hands a notification on CommandChannel to Options.Command.
func (s *Store) command(payload string) {
	if s.opts.Command == nil {
		return
	}
	var cmd store.Command
	if err := json.Unmarshal([]byte(payload), &cmd); err != nil {
		s.log.Warn("postgres: unreadable command ignored", "err", err)
		return
	}
	s.opts.Command(cmd)
}
