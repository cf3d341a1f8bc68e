package domain

import (
	"strconv"
	"strings"
)

// Room names (docs/protocol.md, Rooms). RoomAll is the log's marker for "every connection";
// nobody joins it, everybody receives it.
const (
	RoomDisplay = "display"
	RoomAll     = "*"
)

// RoomKind names the kind of a room.
type RoomKind string

const (
	RoomKindTenant  RoomKind = "tenant"
	RoomKindKasir   RoomKind = "kasir"
	RoomKindDisplay RoomKind = "display"
	RoomKindUser    RoomKind = "user"
)

func TenantRoom(id int64) string { return "tenant-" + strconv.FormatInt(id, 10) }
func KasirRoom(id int64) string  { return "kasir-" + strconv.FormatInt(id, 10) }
func UserRoom(id int64) string   { return "user-" + strconv.FormatInt(id, 10) }

// Room is a parsed room name.
type Room struct {
	Kind RoomKind
	ID   int64 // 0 for display
}

// MaxRoomID bounds ids in room names so that a room name stays short.
const MaxRoomID = 1<<53 - 1

// ParseRoom accepts `display`, `tenant-N`, `kasir-N` and `user-N` with N a
// positive decimal without sign or leading zeros, so each room has one spelling.
func ParseRoom(s string) (Room, error) {
	if s == RoomDisplay {
		return Room{Kind: RoomKindDisplay}, nil
	}
	kind, num, ok := strings.Cut(s, "-")
	if ok {
		switch RoomKind(kind) {
		case RoomKindTenant, RoomKindKasir, RoomKindUser:
			if id, err := ParseID(num); err == nil {
				return Room{Kind: RoomKind(kind), ID: id}, nil
			}
		}
	}
	return Room{}, Errorf(CodeInvalid, "unknown room %q (want display, tenant-N, kasir-N or user-N)", truncate(s, 64))
}

// String renders the room's canonical name.
func (r Room) String() string {
	if r.Kind == RoomKindDisplay {
		return RoomDisplay
	}
	return string(r.Kind) + "-" + strconv.FormatInt(r.ID, 10)
}

// ParseID parses a positive id written canonically (no sign, no leading zero).
func ParseID(s string) (int64, error) {
	if s == "" || len(s) > 16 || s[0] == '0' {
		return 0, Errorf(CodeInvalid, "invalid id %q", truncate(s, 32))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, Errorf(CodeInvalid, "invalid id %q", truncate(s, 32))
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || id > MaxRoomID {
		return 0, Errorf(CodeInvalid, "invalid id %q", truncate(s, 32))
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TenantOf is the stall an event addressed to rooms belongs to: the id of
// its tenant room, or 0 for an event of no one stall (an alert, a
// notification).
func TenantOf(rooms []string) int64 {
	for _, r := range rooms {
		if id, ok := strings.CutPrefix(r, string(RoomKindTenant)+"-"); ok {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				return n
			}
		}
	}
	return 0
}
