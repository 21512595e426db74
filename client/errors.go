package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// ProblemTypeBase prefixes every problem type URI the gateway sends; the
// slug after it (e.g. "rate-limited") is stable.
const ProblemTypeBase = "https://intelgate.dev/problems/"

// Error is a non-2xx answer from the gateway, carrying its RFC 9457 problem
// details. When the body was not problem+json, Type is empty and Title is
// the HTTP status text.
type Error struct {
	Status    int    // HTTP status code
	Type      string // problem type URI, e.g. ProblemTypeBase + "unauthenticated"
	Title     string // short, fixed per Type
	Detail    string // what went wrong with this request
	RequestID string // the gateway's request id, for its logs and audit trail
	Parameter string // the offending query parameter, for invalid-parameter
	// RetryAfter is the wait the gateway asked for, uncapped; zero if none.
	RetryAfter time.Duration
}

// Error formats the problem for humans. It holds only what the gateway sent
// back, which never includes the caller's token.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "intelgate: %d %s", e.Status, e.Title)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Slug returns the stable part of Type after ProblemTypeBase, or "" for a
// non-intelgate or missing type.
func (e *Error) Slug() string {
	s, ok := strings.CutPrefix(e.Type, ProblemTypeBase)
	if !ok {
		return ""
	}
	return s
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsUnauthenticated reports whether the gateway refused the token (401): it
// is missing, unknown or revoked. The gateway deliberately does not say which.
func IsUnauthenticated(err error) bool { return hasStatus(err, http.StatusUnauthorized) }

// IsForbidden reports whether the token is valid but not allowed this
// request (403): provider outside the client's scope, or source address.
func IsForbidden(err error) bool { return hasStatus(err, http.StatusForbidden) }

// IsRateLimited reports whether the gateway answered 429, either for the
// client's own limit or an upstream's; RetryAfter says how long to wait.
func IsRateLimited(err error) bool { return hasStatus(err, http.StatusTooManyRequests) }

// IsInvalidParameter reports whether the request was refused as malformed
// (400); Parameter names the field when the gateway knows it.
func IsInvalidParameter(err error) bool { return hasStatus(err, http.StatusBadRequest) }

// IsNotFound reports whether the gateway answered 404: no such job (or
// another client's), or the provider has no data (Resolve).
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

func hasStatus(err error, status int) bool {
	e, ok := AsError(err)
	return ok && e.Status == status
}

// problemBody is the wire shape of a problem; Error keeps the exported one
// free of JSON tags the caller does not need.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Parameter string `json:"parameter"`
}

// errorFromResponse builds an *Error from a non-2xx response, reading at most
// maxProblemBytes of it. The HTTP status is authoritative over the body's.
func errorFromResponse(resp *http.Response, retryAfter time.Duration) *Error {
	e := &Error{
		Status:     resp.StatusCode,
		Title:      http.StatusText(resp.StatusCode),
		RequestID:  resp.Header.Get("X-Request-Id"),
		RetryAfter: retryAfter,
	}
	if e.Title == "" {
		e.Title = "HTTP status " + fmt.Sprint(resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes+1))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p problemBody
	if err != nil || len(body) > maxProblemBytes || mt != "application/problem+json" || json.Unmarshal(body, &p) != nil {
		e.Detail = "the gateway (or a proxy in front of it) sent a non-problem error response"
		return e
	}
	e.Type, e.Detail, e.Parameter = p.Type, p.Detail, p.Parameter
	if p.Title != "" {
		e.Title = p.Title
	}
	if p.RequestID != "" {
		e.RequestID = p.RequestID
	}
	return e
}
