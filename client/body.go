package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// requestBody is a request body that an attempt opens, and that a retry
// must be able to send again from its start.
type requestBody interface {
	// open returns the body of the next attempt.
	open(ctx context.Context) (io.Reader, error)
	// rewind makes the next open start from the beginning again, or says
	// why it cannot.
	rewind(ctx context.Context) error
}

// bytesBody is a body held in memory: every attempt reads its own copy.
// net/http sees a *bytes.Reader, so it sends a Content-Length.
type bytesBody []byte

func (b bytesBody) open(context.Context) (io.Reader, error) { return bytes.NewReader(b), nil }
func (b bytesBody) rewind(context.Context) error            { return nil }

// errBodyNotReplayable ends the retries of a streamed body that was
// (partly) sent and cannot be read again.
var errBodyNotReplayable = errors.New("the request body was already (partly) sent and its reader cannot seek back")

// streamBody is the caller's reader, sent as it is read. A retry rewinds
// an io.Seeker to where it was when the call began; any other reader can
// be sent again only when the failed attempt read nothing of it (the
// connection was refused).
type streamBody struct {
	r      io.Reader
	seeker io.Seeker // r, when it can seek
	start  int64     // r's offset when the call began
	last   *trackedReader
}

func newStreamBody(r io.Reader) *streamBody {
	b := &streamBody{r: r}
	if s, ok := r.(io.Seeker); ok {
		if off, err := s.Seek(0, io.SeekCurrent); err == nil {
			b.seeker, b.start = s, off
		}
	}
	return b
}

func (b *streamBody) open(context.Context) (io.Reader, error) {
	b.last = &trackedReader{r: b.r, closed: make(chan struct{})}
	return b.last, nil
}

// rewind first waits until the transport has closed the previous
// attempt's body: it may still be writing it on a goroutine of its own
// after the answer came back (an early 429), and net/http asks callers
// reusing a body to wait for that Close.
func (b *streamBody) rewind(ctx context.Context) error {
	if b.last == nil {
		return nil
	}
	select {
	case <-b.last.closed:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.seeker != nil {
		if _, err := b.seeker.Seek(b.start, io.SeekStart); err != nil {
			return fmt.Errorf("rewinding the request body: %w", err)
		}
		return nil
	}
	if b.last.n.Load() > 0 {
		return errBodyNotReplayable
	}
	return nil
}

// trackedReader counts what the transport read of the caller's reader
// and reports its Close, which it does not pass on: the reader is the
// caller's to close.
type trackedReader struct {
	r      io.Reader
	n      atomic.Int64
	once   sync.Once
	closed chan struct{}
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n.Add(int64(n))
	return n, err
}

func (t *trackedReader) Close() error {
	t.once.Do(func() { close(t.closed) })
	return nil
}
