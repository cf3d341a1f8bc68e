package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// listen follows the other nodes' commits and commands: on a connection of
// its own it LISTENs on NotifyChannel and calls Options.Changed for every
// notification, and once after every (re)connect, since notifications sent while it was
// disconnected are lost and the follower must read the log to catch up.
// It also LISTENs on CommandChannel and hands each command to
// Options.Command; a command sent while it was disconnected is lost (the
// revocation sweep still closes a revoked token's connections).
// A lost connection (a restarted server, a pg_terminate_backend) is
// re-dialled after listenBackoffMin, then twice as long each time up to
// listenBackoffMax; the outage is logged once, at WARN, and its end at
// INFO. ready is closed after the first attempt, however it went.
func (s *Store) listen(ctx context.Context, ready chan<- struct{}) {
	defer close(s.listenDone)
	readyOnce := func() {
		if ready != nil {
			close(ready)
			ready = nil
		}
	}
	defer readyOnce()
	backoff := listenBackoffMin
	var downSince time.Time
	for {
		conn, err := s.listenConn(ctx)
		readyOnce()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if downSince.IsZero() {
				downSince = time.Now()
				s.log.Warn("postgres: cannot follow other nodes' commits; retrying (the follower still polls the log)", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, listenBackoffMax)
			continue
		}
		if !downSince.IsZero() {
			s.log.Info("postgres: following other nodes' commits again", "down_for", time.Since(downSince).Round(time.Millisecond))
			downSince = time.Time{}
		}
		backoff = listenBackoffMin
		s.listenPID.Store(conn.PgConn().PID())
		s.changed() // whatever was committed while we were not listening
		for {
			var n *pgconn.Notification
			if n, err = conn.WaitForNotification(ctx); err != nil {
				break
			}
			if n.Channel == s.channels.cmd {
				s.command(n.Payload)
				continue
			}
			s.changed()
		}
		s.listenPID.Store(0)
		_ = conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		downSince = time.Now()
		s.log.Warn("postgres: lost the connection that follows other nodes' commits; reconnecting (the follower still polls the log)", "err", err)
		// The first re-dial is immediate: a terminated backend is the usual
		// cause, and the server is still there.
	}
}

// listenConn dials the listener's connection and LISTENs on both channels.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, listenBackoffMax)
	defer cancel()
	conn, err := pgx.ConnectConfig(dctx, s.listenCfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(dctx, "LISTEN "+pgx.Identifier{s.channels.log}.Sanitize()+"; LISTEN "+pgx.Identifier{s.channels.cmd}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (s *Store) changed() {
	if s.opts.Changed != nil {
		s.opts.Changed()
	}
}

// ListenerPID is the server process id of the listener's connection, or 0
// while it is disconnected: tests terminate it to check that nothing is
// lost.
func (s *Store) ListenerPID() uint32 { return s.listenPID.Load() }

// channels are the notification channels of one posd database. LISTEN and
// NOTIFY are per database, not per schema, so two posd installations in
// two schemas of one database would hear each other's commits and, worse,
// carry out each other's commands (one's room disconnect closing the
// other's sockets). Every schema but public therefore gets channels of its
// own; public keeps the bare names, which nodes of earlier versions use.
type channels struct{ log, cmd string }

// maxChannel is PostgreSQL's longest identifier (NAMEDATALEN − 1).
const maxChannel = 63

func channelsOf(schema string) channels {
	if schema == "" || schema == "public" {
		return channels{NotifyChannel, CommandChannel}
	}
	suffix := schema
	if len(CommandChannel)+1+len(suffix) > maxChannel {
		sum := sha256.Sum256([]byte(schema))
		suffix = hex.EncodeToString(sum[:12])
	}
	return channels{NotifyChannel + "." + suffix, CommandChannel + "." + suffix}
}
