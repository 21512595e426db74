package secret

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/intelgate/intelgate/internal/regfile"
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

// Resolve fetches the secret ref points to, dropping any warning (see
// ResolveWithWarnings). An env: variable must be set and non-empty; a file:
// must be a regular file (a symlink to one is fine) that no other user can
// write, is read without blocking (at most MaxFileSize) with one trailing
// newline (LF or CRLF) removed, and must not then be empty. Neither may
// have leading or trailing whitespace or a UTF-8 byte order mark.
// vault: and awssm: return an error wrapping ErrNotSupported. Errors name the
// reference, never the secret.
func (rv Resolver) Resolve(ctx context.Context, ref Ref) (Value, error) {
	v, _, err := rv.ResolveWithWarnings(ctx, ref)
	return v, err
}

// ResolveWithWarnings is Resolve, and also returns the problems that do not
// stop the secret from being used but that an operator should fix — today a
// key file readable by group or others. Each warning names the reference,
// never the secret.
func (rv Resolver) ResolveWithWarnings(ctx context.Context, ref Ref) (Value, []string, error) {
	if err := ctx.Err(); err != nil {
		return Value{}, nil, err
	}
	switch ref.Scheme {
	case "env":
		v, err := rv.env(ref.Path)
		return v, nil, err
	case "file":
		return readFile(ref)
	case "vault", "awssm":
		return Value{}, nil, fmt.Errorf("%s: references are %w", ref.Scheme, ErrNotSupported)
	case "":
		return Value{}, nil, errors.New("no secret reference given")
	default:
		return Value{}, nil, fmt.Errorf("unknown secret reference scheme %q", ref.Scheme)
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
	if what := surroundingSpace(v); what != "" {
		return Value{}, fmt.Errorf("environment variable %s contains leading or trailing whitespace (%s)", name, what)
	}
	if i := controlAt(v); i >= 0 {
		return Value{}, fmt.Errorf("environment variable %s contains a control character (or an invisible one) at byte %d; a key is one line of printable text", name, i)
	}
	return NewValue(v), nil
}

func readFile(ref Ref) (Value, []string, error) {
	path := ref.Path
	b, info, err := regfile.Read(path, MaxFileSize)
	if err != nil {
		return Value{}, nil, fmt.Errorf("reading secret file: %w", err)
	}
	warning, err := checkMode(ref, info.Mode().Perm())
	if err != nil {
		return Value{}, nil, err
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		return Value{}, nil, fmt.Errorf("secret file %s is empty", path)
	}
	if what := surroundingSpace(s); what != "" {
		return Value{}, nil, fmt.Errorf("secret file %s contains leading or trailing whitespace (%s); only one final newline is allowed", path, what)
	}
	if i := controlAt(s); i >= 0 {
		return Value{}, nil, fmt.Errorf("secret file %s contains a control character (or an invisible one) at byte %d (a second line break, a NUL, a zero-width space?); a key is one line of printable text", path, i)
	}
	var warnings []string
	if warning != "" {
		warnings = append(warnings, warning)
	}
	return NewValue(s), warnings, nil
}

// checkMode refuses a key file anyone may write (whoever can write it can
// swap the key the gateway sends) and warns about one that group or others
// can read (whoever can read it holds the key). Windows permission bits
// say nothing about either, so there is no check there.
func checkMode(ref Ref, perm fs.FileMode) (warning string, err error) {
	if runtime.GOOS == "windows" {
		return "", nil
	}
	switch {
	case perm&0o002 != 0:
		return "", fmt.Errorf("secret file %s has mode %04o: writable by others; chmod 600", ref.Path, perm)
	case perm&0o044 != 0:
		return fmt.Sprintf("%s has mode %04o: readable by group/others; chmod 600", ref, perm), nil
	case perm&0o077 != 0:
		return fmt.Sprintf("%s has mode %04o: accessible by group/others; chmod 600", ref, perm), nil
	}
	return "", nil
}

// surroundingSpace says what is wrong when s starts with a UTF-8 byte order
// mark or starts or ends with whitespace, else "". A key copied with a
// stray space or saved by an editor that adds a BOM fails upstream with a
// 401 that looks like a revoked key; it is refused here, where the operator
// can see why.
func surroundingSpace(s string) string {
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	switch {
	case first == '\uFEFF':
		return "a UTF-8 byte order mark"
	case unicode.IsSpace(first):
		return "leading"
	case unicode.IsSpace(last):
		return "trailing"
	}
	return ""
}

// controlAt is the byte offset of the first control character in s, or -1.
// A key with a stray CR or NUL would fail every upstream call with a
// misleading transport error; it is refused where the operator can fix it.
// controlAt is the byte offset of the first character a key of printable
// text cannot hold: a control character, an invisible formatting character
// (a zero-width space or BOM pasted along with it), a line or paragraph
// separator, or a byte that is not UTF-8. -1 when there is none.
func controlAt(s string) int {
	return strings.IndexFunc(s, func(r rune) bool {
		return r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
	})
}
