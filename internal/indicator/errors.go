package indicator

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Sentinel errors. Parse and ParseType wrap exactly one of them, so callers
// branch with errors.Is and show Error(), which adds the precise reason
// (a byte offset, a limit, the expected shape) but never the input value.
var (
	ErrEmpty        = errors.New("is empty")
	ErrTooLong      = errors.New("is too long")
	ErrControlChar  = errors.New("contains a control character")
	ErrInvalidUTF8  = errors.New("is not valid UTF-8")
	ErrTypeMismatch = errors.New("value does not match the indicator type")
	ErrUnknownType  = errors.New("unknown indicator type")
)

// parseError carries a sentinel kind and a complete, precise message. A
// plain fmt.Errorf("%w ...") would force the sentinel text to the front of
// every message; this keeps messages natural and errors.Is working.
type parseError struct {
	kind error
	msg  string
}

func (e *parseError) Error() string { return e.msg }
func (e *parseError) Unwrap() error { return e.kind }

// mismatch wraps a normaliser's reason as ErrTypeMismatch:
// "value is not a valid ipv4 address: leading zeros are ambiguous ...".
func mismatch(t Type, reason error) error {
	return &parseError{kind: ErrTypeMismatch, msg: fmt.Sprintf("value is not a valid %s: %v", t.noun(), reason)}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
