//go:build !linux

package bench

import (
	"errors"
	"time"
)

// poller is Linux-only (epoll); elsewhere the bench reads with gorilla.
type poller struct{}

func newPoller(int, time.Duration, string, func() int64, func(*client, error)) (*poller, error) {
	return nil, errors.New("--reader epoll needs Linux; use --reader gorilla")
}

func (*poller) add(*client) error { return errors.New("no poller") }
func (*poller) run()              {}
func (*poller) close() error      { return nil }

func rawWrite(int, []byte) error { return errors.New("no raw sockets") }
func rawClose(int) error         { return errors.New("no raw sockets") }
