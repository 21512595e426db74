package secret

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// MaxFileSize bounds a file: secret. Keys and tokens are small; a bigger file
// is almost certainly the wrong path (a log, a binary) and is refused rather
// than read into memory.
const MaxFileSize = 64 << 10

// Resolver fetches secrets. Its zero value reads the process environment
// and filesystem; tests inject LookupEnv so they can run in parallel.
type Resolver struct {
	// LookupEnv replaces os.LookupEnv when set.
	LookupEnv func(name string) (string, bool)
}

// Resolve fetches the secret r points to with the zero Resolver.
func Resolve(ctx context.Context, r Ref) (Value, error) {
	return Resolver{}.Resolve(ctx, r)
}

// Resolve fetches the secret ref points to. An env: variable must be set
// and non-empty; a file: is read whole (at most MaxFileSize) with one
// trailing newline (LF or CRLF) removed, and must not then be empty.
// vault: and awssm: return an error wrapping ErrNotSupported. Errors name the
// reference, never the secret.
func (rv Resolver) Resolve(ctx context.Context, ref Ref) (Value, error) {
	if err := ctx.Err(); err != nil {
		return Value{}, err
	}
	switch ref.Scheme {
	case "env":
		return rv.env(ref.Path)
	case "file":
		return readFile(ref.Path)
	case "vault", "awssm":
		return Value{}, fmt.Errorf("%s: references are %w", ref.Scheme, ErrNotSupported)
	case "":
		return Value{}, errors.New("no secret reference given")
	default:
		return Value{}, fmt.Errorf("unknown secret reference scheme %q", ref.Scheme)
	}
}

func (rv Resolver) env(name string) (Value, error) {
	lookup := rv.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(name)
	switch {
	case !ok:
		return Value{}, fmt.Errorf("environment variable %s is not set", name)
	case v == "":
		return Value{}, fmt.Errorf("environment variable %s is empty", name)
	}
	if i := controlAt(v); i >= 0 {
		return Value{}, fmt.Errorf("environment variable %s contains a control character at byte %d; a key is one line of printable text", name, i)
	}
	return NewValue(v), nil
}

func readFile(path string) (Value, error) {
	f, err := os.Open(path)
	if err != nil {
		return Value{}, fmt.Errorf("reading secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return Value{}, fmt.Errorf("reading secret file %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return Value{}, fmt.Errorf("secret file %s is larger than %d KiB", path, MaxFileSize>>10)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		return Value{}, fmt.Errorf("secret file %s is empty", path)
	}
	if i := controlAt(s); i >= 0 {
		return Value{}, fmt.Errorf("secret file %s contains a control character at byte %d (a second line break, a NUL?); a key is one line of printable text", path, i)
	}
	return NewValue(s), nil
}

// controlAt is the byte offset of the first control character in s, or -1.
// A key with a stray CR or NUL would fail every upstream call with a
// misleading transport error; it is refused where the operator can fix it.
func controlAt(s string) int {
	return strings.IndexFunc(s, unicode.IsControl)
}
