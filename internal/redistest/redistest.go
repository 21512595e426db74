// Package redistest holds what the tests of every Redis-backed package
// share: the test server (or a skip), a key prefix per test, and the two
// broken servers failure tests point a client at.
package redistest

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"sync"
	"testing"
)

// URL is the test Redis (INTELGATE_TEST_REDIS_URL), or a skip: these
// tests need a real server, and .ci/run always provides one.
func URL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("INTELGATE_TEST_REDIS_URL")
	if u == "" {
		t.Skip("INTELGATE_TEST_REDIS_URL not set: skipping Redis tests")
	}
	return u
}

// Prefix isolates one test's keys (and channels) from every other run on
// the same Redis: tests never FLUSHDB a shared server.
func Prefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "intelgate-test:" + hex.EncodeToString(b[:]) + ":"
}

// ClosedPort returns a loopback address nothing listens on: bound, then
// released, so a dial is refused at once.
func ClosedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("closing the listener: %v", err)
	}
	return addr
}

// BlackHole is a loopback server that accepts connections, reads what it
// is sent and never answers: a hung Redis.
type BlackHole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  sync.WaitGroup
}

// NewBlackHole starts one; it is closed at the end of the test.
func NewBlackHole(t *testing.T) *BlackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
	}
	b := &BlackHole{ln: ln}
	b.done.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.done.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(b.Close)
	return b
}

// Addr is the server's host:port.
func (b *BlackHole) Addr() string { return b.ln.Addr().String() }

// Close stops the server and waits for its goroutines; calling it twice
// is harmless.
func (b *BlackHole) Close() {
	_ = b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.done.Wait()
}
