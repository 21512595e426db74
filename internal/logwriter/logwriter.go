// Package logwriter buffers a process's log output: one write system call
// per batch of lines instead of one per line, which at thousands of access
// log lines a second is a visible share of the gateway's CPU.
//
// Nothing is dropped to make it cheap. A Writer never discards a line to
// keep up: a writer that finds the buffer full flushes it itself (so a slow
// terminal or journal slows logging down, as an unbuffered write would),
// a timer flushes a line at most FlushInterval after it was written, Urgent
// makes warnings and errors go out at once, and Close, which the commands
// call on every way out including SIGTERM, writes whatever is left.
// Lines are kept whole and in order.
//
// Why a mutex and a buffer rather than an asynchronous queue: handing each
// line to another goroutine costs about as much as the write it saves
// when the queue is short, and a bounded queue must either drop lines
// or block when full; a buffer behind a mutex blocks in the same case and
// is otherwise a copy.
package logwriter

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultBufferSize    = 64 << 10
	DefaultFlushInterval = 100 * time.Millisecond
)

// Options tune a Writer.
type Options struct {
	BufferSize    int           // bytes held before a write flushes; default 64 KiB
	FlushInterval time.Duration // longest a line waits in the buffer; default 100ms
}

// Writer is a buffered io.Writer, safe for concurrent use. Each Write is
// kept whole: a log handler that writes one record per call (as slog's
// handlers do) never has a record split between two flushes or
// interleaved with another.
type Writer struct {
	out      io.Writer
	size     int
	interval time.Duration

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // flushes the buffer FlushInterval after it stopped being empty
	armed  bool        // timer is running
	closed bool        // Close ran: writes go straight to out
}

// New returns a Writer that buffers what it is given and writes it to out.
func New(out io.Writer, o Options) *Writer {
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	w := &Writer{out: out, size: o.BufferSize, interval: o.FlushInterval, buf: make([]byte, 0, o.BufferSize)}
	w.timer = time.AfterFunc(time.Hour, w.timed)
	w.timer.Stop()
	return w
}

// Write buffers p, flushing first if it would not fit. A p larger than the
// buffer is written through, after what was buffered before it. An error
// is out's: the flush failed, and p was not taken.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	if len(w.buf)+len(p) > w.size {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > w.size {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	if !w.armed {
		w.armed = true
		w.timer.Reset(w.interval)
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// Close flushes and stops the timer. The Writer stays usable: later writes
// (a deferred close that logs, say) go straight to out, so even they are
// not lost. Close does not close out.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.timer.Stop()
	w.armed = false
	return w.flushLocked()
}

func (w *Writer) timed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	_ = w.flushLocked() // nobody to tell; the next write or Close tries again
}

// flushLocked writes the buffer and empties it. If out fails, those lines
// are gone, as they would have been had each been written to out directly:
// retrying them would only stop the process from logging anything new.
func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.out.Write(w.buf)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	w.buf = w.buf[:0]
	return err
}

// Urgent wraps h so that every record at level or above is flushed as soon
// as h has written it: warnings and errors reach the terminal or journal
// at once (and survive a crash that follows them), while the info-level
// access log is batched. h must write to w.
func (w *Writer) Urgent(h slog.Handler, level slog.Leveler) slog.Handler {
	return &urgentHandler{next: h, w: w, level: level}
}

type urgentHandler struct {
	next  slog.Handler
	w     *Writer
	level slog.Leveler
}

func (h *urgentHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *urgentHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.next.Handle(ctx, r)
	if r.Level >= h.level.Level() {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *urgentHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &urgentHandler{next: h.next.WithAttrs(attrs), w: h.w, level: h.level}
}

func (h *urgentHandler) WithGroup(name string) slog.Handler {
	return &urgentHandler{next: h.next.WithGroup(name), w: h.w, level: h.level}
}
