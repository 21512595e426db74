package gateway

import (
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// errorLogEvery bounds how often net/http's own error lines are written.
const errorLogEvery = time.Minute

// serverErrorLog receives the lines net/http writes to http.Server.ErrorLog
// and logs them throttled: at most one line per kind per errorLogEvery,
// with how many were suppressed since the last one. Most are about clients
// that never got as far as a request — "TLS handshake error from …" for
// every port scanner, every plaintext request to the TLS port, every
// connection closed mid-handshake — so left alone they are a flood of log
// lines that no authentication limit bounds, written before anyone has
// authenticated.
type serverErrorLog struct {
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	kinds map[string]*errorLogKind
}

type errorLogKind struct {
	last       time.Time
	suppressed int
	sample     string
}

func newServerErrorLog(l *slog.Logger, now func() time.Time) *serverErrorLog {
	return &serverErrorLog{log: l, now: now, kinds: map[string]*errorLogKind{}}
}

// logger is the *log.Logger to give http.Server.
func (s *serverErrorLog) logger() *log.Logger { return log.New(s, "", 0) }

// Write takes one line from net/http.
func (s *serverErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	kind := "server_error"
	switch {
	case strings.Contains(msg, "http: panic serving"):
		// A bug of ours, with its stack: never throttled, never hidden
		// behind a flood of handshake errors.
		s.log.Error(msg, "event", "server_panic")
		return len(p), nil
	case strings.Contains(msg, "TLS handshake error"):
		kind = "tls_handshake_failed"
	}
	now := s.now()
	s.mu.Lock()
	k := s.kinds[kind]
	if k == nil {
		k = &errorLogKind{}
		s.kinds[kind] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < errorLogEvery {
		k.suppressed++
		k.sample = msg
		s.mu.Unlock()
		return len(p), nil
	}
	suppressed := k.suppressed
	k.last, k.suppressed, k.sample = now, 0, ""
	s.mu.Unlock()
	s.log.Warn(msg, "event", kind, "suppressed_since_last", suppressed)
	return len(p), nil
}

// flush writes what was suppressed since the last line of each kind (at
// shutdown, so nothing counted is lost).
func (s *serverErrorLog) flush() {
	s.mu.Lock()
	type line struct {
		kind, sample string
		n            int
	}
	var lines []line
	for kind, k := range s.kinds {
		if k.suppressed > 0 {
			lines = append(lines, line{kind, k.sample, k.suppressed})
			k.suppressed, k.sample = 0, ""
		}
	}
	s.mu.Unlock()
	for _, l := range lines {
		s.log.Warn("suppressed similar server errors", "event", l.kind, "suppressed_since_last", l.n, "last", l.sample)
	}
}
