package upstream

import (
	"io"
	"sync"
)

// exactReadMax is the largest declared Content-Length read straight into a
// slice of that size. Above it the body goes through a pooled buffer that
// grows with the bytes that arrive, so an upstream announcing 5 MiB and
// sending nothing costs no more than one that announces nothing.
const exactReadMax = 64 << 10

// Pooled read buffers: a miss-path answer of unknown length (chunked,
// compressed) is read into one, checked in place and copied out once.
const (
	pooledBufferSize = 16 << 10
	// maxPooledBuffer: a buffer that grew for a rare large answer is left
	// to the garbage collector rather than kept for every later call.
	maxPooledBuffer = 1 << 20
)

var bufferPool = sync.Pool{New: func() any {
	b := make([]byte, 0, pooledBufferSize)
	return &b
}}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	bufferPool.Put(b)
}

// readFull reads into buf until it is full or r fails; io.EOF is returned
// as such, with the count read before it.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readLimited appends what r yields to b until io.EOF (not an error) or
// until b holds limit bytes, whichever is first; it never reads past limit.
func readLimited(r io.Reader, b []byte, limit int64) ([]byte, error) {
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow, amortised as append does
		}
		room := b[len(b):cap(b)]
		if rest := limit - int64(len(b)); int64(len(room)) > rest {
			room = room[:rest]
		}
		n, err := r.Read(room)
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}
