package provider

import (
	"errors"
	"net/url"
	"strings"

	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// redact keeps the key out of an error returned by the transport. net/http
// reports failures as *url.Error, whose message quotes the full request URL —
// including the key when a provider takes it as a query parameter. The
// transport promises secret-free errors; this is the second lock on that
// door, because a leaked key is expensive and a redundant check is not.
func redact(err error, key string) error {
	if err == nil || key == "" {
		return err
	}
	forms := keyForms(key)
	if !containsAny(err.Error(), forms) {
		return err
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		clean := *ue
		clean.Detail = replaceAll(ue.Detail, forms)
		if ue.Err != nil {
			clean.Err = &redactedError{msg: replaceAll(ue.Err.Error(), forms), orig: ue.Err}
		}
		return &clean
	}
	return &redactedError{msg: replaceAll(err.Error(), forms), orig: err}
}

// keyForms are the spellings a key takes on the wire: raw in a header,
// escaped in a query or form body.
func keyForms(key string) []string {
	forms := []string{key}
	for _, f := range []string{url.QueryEscape(key), url.PathEscape(key)} {
		if f != key {
			forms = append(forms, f)
		}
	}
	return forms
}

func containsAny(s string, forms []string) bool {
	for _, f := range forms {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

func replaceAll(s string, forms []string) string {
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, secret.Redacted)
	}
	return s
}

// redactedError is an error whose message had the key removed. It answers
// errors.Is for the original chain (context.DeadlineExceeded still matches)
// but deliberately has no Unwrap: unwrapping would hand the unredacted
// message back to whoever logs it.
type redactedError struct {
	msg  string
	orig error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }
