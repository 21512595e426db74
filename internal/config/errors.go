package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem in a config file. Field is the path of the
// setting ("providers.socialeye.keys[1].id"); Line is its line in the file,
// 0 when unknown (a setting that is missing, a config built in code). Msg
// never holds a secret value.
type FieldError struct {
	Field string
	Line  int
	Msg   string
	// Err is the underlying cause when there is one (a secret that failed to
	// resolve), for errors.Is; Msg already describes it.
	Err error
}

func (e *FieldError) Unwrap() error { return e.Err }

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a config, in file order. Load and
// Parse return it (as error) so a user fixes everything in one pass rather
// than one error per run.
type ErrorList []*FieldError

// Unwrap exposes each problem to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Error prints one problem per line.
func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// maxReported bounds the list: a pathological file (a list of a million
// wrong items) should not produce a million lines.
const maxReported = 200

// Err returns l, sorted, as an error, or nil when l is empty (never a typed
// nil).
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.sort()
	if len(l) > maxReported {
		more := len(l) - maxReported
		l = append(l[:maxReported:maxReported], &FieldError{Msg: strconv.Itoa(more) + " more problems not shown"})
	}
	return l
}

// sort orders problems by line, those without a line last, then by field.
func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *FieldError) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Field, b.Field))
	})
}
