package vault

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/hashicorp/vault/api"
)

// Errors a caller can test for with errors.Is.
var (
	// ErrNotFound: there is no secret at the reference's MOUNT/PATH (or
	// MOUNT is not a KV version 2 mount).
	ErrNotFound = errors.New("no such secret")
	// ErrDeleted: the secret's current version is deleted.
	ErrDeleted = errors.New("the current version is deleted")
	// ErrDestroyed: the secret's current version is destroyed.
	ErrDestroyed = errors.New("the current version is destroyed")
	// ErrNoField: the secret has no such field.
	ErrNoField = errors.New("no such field")
	// ErrNotString: the field holds a number, a boolean, an object or
	// null, where a key must be a string.
	ErrNotString = errors.New("the field is not a string")
	// ErrNotRenewable: the token cannot be renewed (any more): it is not
	// renewable, it reached its max TTL, or Vault refused the renewal. It
	// serves until it expires.
	ErrNotRenewable = errors.New("the Vault token cannot be renewed")
	// ErrTokenExpired: the token expired or was revoked; with method token
	// nothing but a new token (a config reload) brings vault: back.
	ErrTokenExpired = errors.New("the Vault token has expired or was revoked")
	// ErrRedirect: Vault answered with a redirect, which is never followed:
	// it would carry the token to wherever the Location header points.
	ErrRedirect = errors.New("a redirect from Vault is not followed (it would carry the token elsewhere): point address at the active node or its load balancer")
	// ErrBodyTooLarge: an answer was larger than any the API gives.
	ErrBodyTooLarge = fmt.Errorf("an answer from Vault is larger than %d bytes", maxBody)
)

// StatusError is an HTTP error status Vault answered. It keeps the status
// and nothing Vault said: the api package's ResponseError prints the
// answer's body, and an error travels to logs and alerts.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d from Vault (%s)", e.Code, statusMeaning(e.Code))
}

// statusMeaning is what the API documentation's "HTTP status codes" table
// (https://developer.hashicorp.com/vault/api-docs#http-status-codes) says a
// status means, with the likely causes for what we call.
func statusMeaning(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "invalid request: for a login, wrong credentials; for a renewal, a token that cannot be renewed"
	case http.StatusForbidden:
		return "permission denied: the token is missing, expired or revoked, its policy does not allow this path, or the namespace is wrong"
	case http.StatusNotFound:
		return "invalid path, or no permission to see it"
	case http.StatusMethodNotAllowed:
		return "unsupported operation"
	case http.StatusPreconditionFailed:
		return "precondition failed: a performance standby has not caught up yet"
	case http.StatusTooManyRequests:
		return "rate limited by a Vault quota"
	case 473:
		return "performance standby"
	case http.StatusInternalServerError:
		return "internal server error"
	case http.StatusBadGateway:
		return "a third party Vault called failed"
	case http.StatusServiceUnavailable:
		return "sealed, or down for maintenance"
	}
	return http.StatusText(code)
}

// describe turns an error from the api package (or the transport under
// it) into one that is safe to log: a status, a context error, a TLS or
// network failure, or a fixed sentence. Nothing Vault sent — a body, an
// error message that might echo a request — and no request header survives.
// It also keeps context.Canceled and DeadlineExceeded matchable.
func describe(err error) error {
	if err == nil {
		return nil
	}
	var (
		status   *api.ResponseError
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		record   tls.RecordHeaderError
		op       *net.OpError
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
		timeout  interface{ Timeout() bool }
		sentinel = []error{ErrRedirect, ErrBodyTooLarge, ErrNotRenewable, ErrTokenExpired, ErrNotFound}
	)
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("cancelled: %w", context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer in time: %w", context.DeadlineExceeded)
	case errors.As(err, &status):
		return &StatusError{Code: status.StatusCode}
	case errors.Is(err, api.ErrSecretNotFound):
		return ErrNotFound
	case errors.Is(err, api.ErrLifetimeWatcherNotRenewable):
		return ErrNotRenewable
	case errors.As(err, &verify):
		return verify // "tls: failed to verify certificate: x509: …"
	case errors.As(err, &record):
		return errors.New("the server did not answer in TLS (is it serving plain HTTP?)")
	case errors.As(err, &alert):
		return fmt.Errorf("the server ended the TLS handshake: %w", alert)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the connection closed before Vault answered: %w", io.ErrUnexpectedEOF)
	case errors.As(err, &op):
		return op
	case errors.As(err, &syntax), errors.As(err, &typeErr):
		return errors.New("the answer is not the JSON the Vault API documents")
	case errors.As(err, &timeout) && timeout.Timeout():
		return fmt.Errorf("no answer in time: %w", context.DeadlineExceeded)
	}
	for _, s := range sentinel {
		if errors.Is(err, s) {
			return s
		}
	}
	// Anything else may quote what the server sent (the api package turns
	// a 2xx body's "errors" into an error, net/http quotes a malformed
	// answer's first bytes): say only that it failed.
	return errors.New("the request failed with an unexpected answer")
}

// statusCode is err's HTTP status, 0 when it is not a StatusError.
func statusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}
