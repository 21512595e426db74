package sim

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
)

// apiError is SocialEye's (modelled) error body.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) int {
	b, _ := json.Marshal(apiError{Error: errCode, Message: msg}) // two strings: cannot fail
	return writeBody(w, code, "application/json", b)
}

func writeJSON(w http.ResponseWriter, code int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return writeError(w, http.StatusInternalServerError, "internal_error", "encoding response failed")
	}
	return writeBody(w, code, "application/json", b)
}

func writeBody(w http.ResponseWriter, code int, contentType string, body []byte) int {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(body) // a client that left cannot be told
	return code
}

// writeOversized streams a valid JSON object of exactly size bytes (or the
// smallest such object, if size is tiny) without a Content-Length, so a
// client cannot reject it up front and must enforce its cap while reading.
// It stops at the first write error: a client that gave up is not fed 8 MiB.
func writeOversized(w http.ResponseWriter, query string, size int64) {
	q, _ := json.Marshal(query) // a string: cannot fail
	prefix := append(append([]byte(`{"query":`), q...), `,"padding":"`...)
	suffix := []byte(`"}`)
	pad := max(0, size-int64(len(prefix)+len(suffix)))

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(prefix); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for pad > 0 {
		n := min(pad, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		pad -= n
	}
	_, _ = w.Write(suffix)
}

// resetPreamble is what the client receives before the reset: a promising
// response head and the start of a body, so the failure happens
// "mid-response" and a client that trusts headers alone is caught out.
const resetPreamble = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"query\":"

// resetConn takes the connection away from net/http and closes it with
// SO_LINGER 0, so the kernel sends a TCP RST instead of an orderly FIN. Over
// TLS the tls.Conn is bypassed (no close_notify) and the TCP socket beneath
// it is reset. Without a hijackable connection (HTTP/2, recorders) it falls
// back to net/http's abort, which also breaks the response for the client.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_, _ = conn.Write([]byte(resetPreamble))
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}
