package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
)

// socket is the Socket.IO side of a session on the main namespace.
type socket struct {
	sess      *session
	id        string // socket.id as the client sees it
	pid       string // private id, presented back for recovery
	principal auth.Principal
	client    *hub.Client
	// base is the offset to replay from when the client comes back without
	// one: every event this socket received has a greater id.
	base  int64
	gen   int64               // the generation of its recovery record
	rooms map[string]struct{} // guarded by sess.mu
	// detached is closed once the socket has left the live set (and, when
	// recoverable, been saved); guarded by Server.mu.
	detached chan struct{}
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type ackError struct {
	Error errorBody `json:"error"`
}

type ackOK struct {
	OK   bool   `json:"ok"`
	Room string `json:"room,omitempty"`
}

func errBody(err error) errorBody {
	return errorBody{Code: string(domain.ErrorCode(err)), Message: domain.ErrorMessage(err)}
}

// handleMessage acts on one Socket.IO packet.
func (s *session) handleMessage(ctx context.Context, text string) {
	p, err := decodeSIOPacket(text)
	if err != nil {
		s.srv.lg.Debug("malformed socket.io packet", "sid", s.id, "err", err)
		s.closeWith(closeParseError, nil, true)
		return
	}
	if p.Type == sioBinaryEvent || p.Type == sioBinaryAck {
		s.mu.Lock()
		s.skipBinary += p.Attachments
		s.mu.Unlock()
	}
	if p.Nsp != mainNamespace {
		if p.Type == sioConnect {
			s.refuseConnect(connectErrorPacket(p.Nsp, "Invalid namespace", nil))
		}
		return
	}
	switch p.Type {
	case sioConnect:
		s.connect(ctx, p)
	case sioDisconnect:
		s.disconnectSocket()
	case sioEvent:
		if sock := s.socket(); sock != nil {
			sock.onEvent(p)
		}
	case sioBinaryEvent, sioBinaryAck:
		if sock := s.socket(); sock != nil {
			e := errorBody{Code: string(domain.CodeInvalid), Message: "binary packets are not supported by this server; send JSON"}
			if p.ID != noAck && p.Type == sioBinaryEvent {
				s.send(ackPacket(p.ID, ackError{e}))
			}
			s.send(eventPacket("error", e))
		}
	case sioAck, sioConnectError:
		// posd asks for no acks; CONNECT_ERROR is server-to-client only.
	}
}

type connectAuth struct {
	Token  string
	PID    string
	Offset string
}

func parseConnectAuth(data json.RawMessage) connectAuth {
	var a connectAuth
	if data == nil {
		return a
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return a
	}
	str := func(k string) string {
		var v string
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &v) == nil {
			return v
		}
		return ""
	}
	a.Token, a.PID, a.Offset = str("token"), str("pid"), str("offset")
	return a
}

// connect authenticates the CONNECT packet, restores a recoverable session
// when the client presents one, registers the socket with the hub and
// replies with {sid, pid}.
func (s *session) connect(ctx context.Context, p sioPacket) {
	s.mu.Lock()
	if s.sock != nil || s.connecting || s.closed {
		s.mu.Unlock()
		return
	}
	s.connecting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.connecting = false
		s.mu.Unlock()
	}()

	srv := s.srv
	a := parseConnectAuth(p.Data)
	token := a.Token
	if token == "" {
		token = s.token
	}
	actx, cancel := context.WithTimeout(ctx, srv.cfg.AuthTimeout)
	defer cancel()
	principal, err := srv.cfg.Auth.Authenticate(actx, token, s.remote)
	if err != nil {
		// A missing token is a failed authentication too: an anonymous
		// CONNECT costs a refusal like a wrong token does, so it meets the
		// same per-address limit. (The API does not count a missing
		// token: browsers send requests without one by themselves.)
		if fc, ok := srv.cfg.Auth.(failureCounter); ok && token == "" && domain.ErrorCode(err) == domain.CodeUnauthorized {
			fc.CountFailure(s.remote)
		}
		b := errBody(err)
		s.refuseConnect(connectErrorPacket(mainNamespace, b.Message, map[string]string{"code": b.Code}))
		return
	}

	sock := &socket{sess: s, principal: principal, rooms: make(map[string]struct{}), detached: make(chan struct{})}
	since := int64(-1)
	if a.PID != "" {
		if saved := srv.reclaim(actx, a.PID, principal.TokenID); saved != nil {
			since = saved.Base
			if off, err := strconv.ParseInt(a.Offset, 10, 64); err == nil && off > since {
				since = off
			}
			// Only what retention took from the socket's own rooms counts: a
			// quiet stall keeps its last events however old (keep-per-room).
			back := []string{}
			for _, r := range saved.Rooms {
				if room, err := auth.CheckJoin(principal, r); err == nil {
					back = append(back, room)
				}
			}
			if err := srv.cfg.Hub.CheckSinceRooms(actx, since, back); err != nil {
				var tooOld *hub.TooOldError
				if !errors.As(err, &tooOld) {
					srv.lg.Error("checking a recovery offset", "err", err)
				}
				since = -1
			} else {
				sock.id, sock.pid, sock.base, sock.gen = saved.ID, saved.PID, since, saved.Gen+1
				for _, room := range back {
					sock.rooms[room] = struct{}{}
				}
			}
		}
	}
	if sock.pid == "" {
		sock.id, sock.pid, sock.gen = newID(), newID(), 1
		sock.base = srv.cfg.Hub.LastPublished() // before Register: nothing newer is missed
	}
	rooms := make([]string, 0, len(sock.rooms))
	for r := range sock.rooms {
		rooms = append(rooms, r)
	}
	// The reply is the client's head: written before every event, replayed
	// or live, and only once the socket is the session's (Pull and pull
	// take the hub client's frames from then on).
	c := hub.NewClient(srv.cfg.Proto, s, principal)
	if err := srv.cfg.Hub.Register(c, rooms, since, connectPacket(sock.id, sock.pid)); err != nil {
		s.refuseConnect(connectErrorPacket(mainNamespace, err.Error(), map[string]string{"code": string(domain.CodeUnavailable)}))
		return
	}
	// A revocation between Authenticate and Register did not find this
	// client in the hub: look again now that it is there (a revocation
	// from here on closes it through the hub).
	if err := auth.Recheck(actx, srv.cfg.Auth, principal); err != nil {
		c.Close(hub.Revoked)
		b := errBody(err)
		if b.Code != string(domain.CodeUnauthorized) {
			b = errorBody{Code: string(domain.CodeUnavailable), Message: "could not check the token; retry"} // fail closed
		}
		s.refuseConnect(connectErrorPacket(mainNamespace, b.Message, map[string]string{"code": b.Code}))
		return
	}
	sock.client = c
	// Written before the client hears of the socket: from then on it may
	// drop, and any node must find the record.
	srv.putRecord(actx, sock, rooms)

	s.mu.Lock()
	if s.closed || s.sock != nil {
		s.mu.Unlock()
		c.Close(hub.GoingAway)
		srv.detach(sock, since >= 0, false) // a recovered one stays recoverable for the next try
		return
	}
	s.sock = sock
	if s.connTimer != nil {
		s.connTimer.Stop()
	}
	s.mu.Unlock()
	srv.attach(sock)
	srv.loggedIn(s)
	s.wake()
	srv.lg.Debug("socket connected", "sid", s.id, "recovered", since >= 0, "rooms", len(rooms))
}

// disconnectSocket handles the client's DISCONNECT: the socket ends for good
// (not recoverable) while the Engine.IO session stays open.
//
// The session is then pre-login again, and limited as such: it counts
// towards its address's cap (closed when that is full) and must connect a
// socket again within the connect timeout.
func (s *session) disconnectSocket() {
	s.mu.Lock()
	sock := s.sock
	s.sock = nil
	s.mu.Unlock()
	if sock == nil {
		return
	}
	// Closed first: no event of the old socket may go out after its
	// DISCONNECT (a client connecting again would take it for the new
	// one's).
	sock.client.Close(hub.GoingAway)
	// Deleted before the next packet is read: a recovery the client asks
	// for after its DISCONNECT must not find it.
	s.srv.detach(sock, false, true)
	if !s.srv.loggedOut(s) {
		s.closeWith(closePreloginFull, nil, false)
		return
	}
	s.mu.Lock()
	if !s.closed {
		s.armConnectTimeoutLocked()
	}
	s.mu.Unlock()
	s.wake()
}

// failureCounter is an Authenticator that limits failed authentications
// per address and can be told of one it did not see fail (auth.Tokens).
type failureCounter interface {
	CountFailure(remote string)
}

// refuseConnect answers a refused CONNECT. A session may be refused only
// MaxRefusedConnects times: the reference server lets a client retry
// forever on one session, each refusal a packet queued for a client that
// need never read them.
func (s *session) refuseConnect(pkt []byte) {
	s.send(pkt)
	s.mu.Lock()
	s.refused++
	over := s.refused > s.srv.cfg.MaxRefusedConnects
	s.mu.Unlock()
	if over {
		s.srv.lg.Debug("too many refused connects", "sid", s.id)
		s.closeWith(closeRefused, nil, false)
	}
}

// onEvent dispatches a client EVENT: the seed's join-*/leave-* and the
// generic join/leave with a room name.
func (sock *socket) onEvent(p sioPacket) {
	var args []json.RawMessage
	if json.Unmarshal(p.Data, &args) != nil || len(args) == 0 {
		return
	}
	var name string
	if json.Unmarshal(args[0], &name) != nil {
		sock.refuse(p.ID, domain.Errorf(domain.CodeInvalid, "event names must be strings"), false)
		return
	}
	verb, kind, ok := strings.Cut(name, "-")
	plain := name == "join" || name == "leave"
	if plain {
		verb, kind, ok = name, "", true
	}
	if !ok || (kind == "" && !plain) || (verb != "join" && verb != "leave") {
		sock.refuse(p.ID, domain.Errorf(domain.CodeInvalid, "unknown event %q", truncate(name, 64)), false)
		return
	}
	room, err := roomFromArgs(kind, args[1:])
	if err != nil {
		sock.refuse(p.ID, err, true)
		return
	}
	if verb == "join" {
		sock.join(p.ID, room)
	} else {
		sock.leave(p.ID, room)
	}
}

// roomFromArgs builds the room name of a join-<kind>/leave-<kind> event from
// its id argument (a number or a numeric string), or takes the room name of
// a plain join/leave.
func roomFromArgs(kind string, args []json.RawMessage) (string, error) {
	switch kind {
	case "display":
		return domain.RoomDisplay, nil
	case "":
		var room string
		if len(args) == 0 || json.Unmarshal(args[0], &room) != nil {
			return "", domain.Errorf(domain.CodeInvalid, "join and leave take a room name such as \"tenant-1\"")
		}
		return room, nil
	case "tenant", "kasir", "user":
	default:
		return "", domain.Errorf(domain.CodeInvalid, "unknown room kind %q (want tenant, kasir, display or user)", truncate(kind, 32))
	}
	if len(args) == 0 {
		return "", domain.Errorf(domain.CodeInvalid, "join-%s needs a %s id", kind, kind)
	}
	var id string
	switch jsonKind(args[0]) {
	case '0':
		id = string(args[0])
	case '"':
		_ = json.Unmarshal(args[0], &id)
	default:
		return "", domain.Errorf(domain.CodeInvalid, "join-%s needs a %s id (number or numeric string)", kind, kind)
	}
	if _, err := domain.ParseID(id); err != nil {
		return "", domain.Errorf(domain.CodeInvalid, "invalid %s id %s", kind, truncate(string(args[0]), 32))
	}
	return kind + "-" + id, nil
}

func (sock *socket) join(ackID int64, name string) {
	room, err := auth.CheckJoin(sock.principal, name)
	if err != nil {
		sock.refuse(ackID, err, true)
		return
	}
	if err := sock.sess.srv.cfg.Hub.Join(sock.client, room); err != nil {
		if errors.Is(err, hub.ErrClosed) {
			return
		}
		sock.refuse(ackID, domain.Errorf(domain.CodeInvalid, "%s", err.Error()), true)
		return
	}
	sock.sess.mu.Lock()
	sock.rooms[room] = struct{}{}
	sock.sess.mu.Unlock()
	sock.sess.srv.writeRooms(sock)
	if ackID != noAck {
		sock.sess.send(ackPacket(ackID, ackOK{OK: true, Room: room}))
	}
}

func (sock *socket) leave(ackID int64, name string) {
	r, err := domain.ParseRoom(name)
	if err != nil {
		sock.refuse(ackID, err, true)
		return
	}
	room := r.String()
	sock.sess.srv.cfg.Hub.Leave(sock.client, room)
	sock.sess.mu.Lock()
	delete(sock.rooms, room)
	sock.sess.mu.Unlock()
	sock.sess.srv.writeRooms(sock)
	if ackID != noAck {
		sock.sess.send(ackPacket(ackID, ackOK{OK: true, Room: room}))
	}
}

// refuse answers a request the server will not carry out: with an error ack
// when one was asked for, and (for joins and leaves) an `error` event. The
// connection stays up.
func (sock *socket) refuse(ackID int64, err error, event bool) {
	b := errBody(err)
	if ackID != noAck {
		sock.sess.send(ackPacket(ackID, ackError{b}))
	}
	if event {
		sock.sess.send(eventPacket("error", b))
	}
}

// Recovery bookkeeping. A socket's record is written when it connects
// (synchronously, before the client hears of it), joins or leaves a room,
// and when it ends; its node keeps the records of its live sockets from
// expiring (refreshLoop). Nothing is written per delivered event: the
// client presents the offset it reached when it recovers.

func (s *Server) attach(sock *socket) {
	s.mu.Lock()
	select {
	case <-sock.detached: // its session closed before it got here
	default:
		s.live[sock.pid] = sock
	}
	s.mu.Unlock()
}

func (sock *socket) roomList() []string {
	sock.sess.mu.Lock()
	defer sock.sess.mu.Unlock()
	rooms := make([]string, 0, len(sock.rooms))
	for r := range sock.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

func (s *Server) record(sock *socket, rooms []string, expires time.Time) Record {
	return Record{
		PID: sock.pid, ID: sock.id, TokenID: sock.principal.TokenID, Rooms: rooms,
		Base: sock.base, Expires: expires, Owner: s.cfg.NodeID, Gen: sock.gen,
	}
}

// recordTimeout bounds one record write: a database that does not answer
// costs that socket its recovery elsewhere, never the socket.
const recordTimeout = 5 * time.Second

func (s *Server) putRecord(ctx context.Context, sock *socket, rooms []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := s.cfg.Records.PutRecovery(ctx, s.record(sock, rooms, s.cfg.Now().Add(s.cfg.RecoveryWindow))); err != nil {
		s.lg.Warn("writing a Socket.IO recovery record; this socket may not recover on another node", "err", err)
	}
}

// writeRooms writes sock's rooms after a join or leave, before the ack.
func (s *Server) writeRooms(sock *socket) {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := s.cfg.Records.UpdateRecovery(ctx, sock.pid, sock.gen, sock.roomList(), s.cfg.Now().Add(s.cfg.RecoveryWindow)); err != nil {
		s.lg.Warn("writing a Socket.IO recovery record's rooms", "err", err)
	}
}

// detach forgets a live socket and writes its record's end: kept for
// RecoveryWindow when recoverable, else deleted. The write runs in the
// background (a close may come from the hub's fan-out) unless sync; a
// late one cannot undo a claim made meanwhile, which starts a new
// generation. During Close, recoverable sockets are left to Close's one
// refresh of them all.
func (s *Server) detach(sock *socket, recoverable, sync bool) {
	rooms := sock.roomList()
	now := s.cfg.Now()
	expires := now.Add(s.cfg.RecoveryWindow)
	s.mu.Lock()
	if s.live[sock.pid] == sock {
		delete(s.live, sock.pid)
	}
	select {
	case <-sock.detached:
		s.mu.Unlock()
		return // detached already
	default:
		close(sock.detached)
	}
	if recoverable {
		if s.closed {
			s.mu.Unlock()
			return
		}
		if now.Sub(s.lastSweep) > s.cfg.RecoveryWindow/4 {
			for pid, exp := range s.saved {
				if now.After(exp) {
					delete(s.saved, pid)
				}
			}
			s.lastSweep = now
		}
		// Records this node let go of are bounded, as its live ones are.
		if len(s.saved) < s.cfg.MaxRecoverable {
			s.saved[sock.pid] = expires
		} else {
			recoverable = false
		}
	}
	if s.closed {
		sync = true // Close waits for background writes; none may start now
	}
	if !sync {
		s.writes.Add(1)
	}
	s.mu.Unlock()
	write := func() {
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		defer cancel()
		var err error
		if recoverable {
			err = s.cfg.Records.UpdateRecovery(ctx, sock.pid, sock.gen, rooms, expires)
		} else {
			err = s.cfg.Records.DeleteRecovery(ctx, sock.pid, sock.gen)
		}
		if err != nil {
			s.lg.Warn("writing a closed Socket.IO socket's recovery record", "err", err)
		}
	}
	if sync {
		write()
		return
	}
	go func() {
		defer s.writes.Done()
		write()
	}()
}

// reclaim claims the record of pid for a recovery by tokenID: at most one
// recovery gets it, on whichever node. A socket still live here under
// that pid (its old transport not yet known dead) is closed and taken
// over; one live on another node is left to its heartbeat, and its late
// writes are of an older generation.
func (s *Server) reclaim(ctx context.Context, pid string, tokenID int64) *Record {
	s.mu.Lock()
	live := s.live[pid]
	s.mu.Unlock()
	if live != nil {
		if live.principal.TokenID != tokenID {
			return nil
		}
		live.sess.closeWith(closeReplaced, nil, true)
	}
	r, err := s.cfg.Records.ClaimRecovery(ctx, pid, tokenID, s.cfg.Now())
	if err != nil {
		s.lg.Warn("claiming a Socket.IO recovery record", "err", err)
		return nil
	}
	if r != nil {
		s.mu.Lock()
		delete(s.saved, pid)
		s.mu.Unlock()
	}
	return r
}

// refreshLoop keeps the records of this node's live sockets claimable: a
// node that dies stops refreshing them, and they stay claimable for up to
// RecoveryWindow after its last refresh.
func (s *Server) refreshLoop() {
	t := time.NewTicker(s.cfg.RecoveryWindow / 4)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.refresh(s.livePIDs())
		}
	}
}

func (s *Server) livePIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	pids := make([]string, 0, len(s.live))
	for pid := range s.live {
		pids = append(pids, pid)
	}
	return pids
}

func (s *Server) refresh(pids []string) {
	if len(pids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := s.cfg.Records.TouchRecovery(ctx, s.cfg.NodeID, pids, s.cfg.Now().Add(s.cfg.RecoveryWindow)); err != nil {
		s.lg.Warn("refreshing Socket.IO recovery records", "sockets", len(pids), "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
