package secret

import (
	"context"
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

// Env resolves env: references from the process environment, or from
// LookupEnv when set (tests inject it so they can run in parallel). A
// variable must be set and non-empty, with no leading or trailing
// whitespace, byte order mark or control character.
type Env struct {
	// LookupEnv replaces os.LookupEnv when set.
	LookupEnv func(name string) (string, bool)
}

var _ Source = Env{}

// Fetch reads the variables refs name.
func (e Env) Fetch(ctx context.Context, refs []Ref) []Result {
	return Each(ctx, refs, func(_ context.Context, ref Ref) Result {
		v, err := e.read(ref)
		return Result{Secret: Secret{Value: v}, Err: err}
	})
}

func (e Env) read(ref Ref) (Value, error) {
	name := ref.Path
	lookup := e.LookupEnv
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

// File resolves file: references. The file must be a regular file (a
// symlink to one is fine) that no other user can write; it is read without
// blocking (at most MaxFileSize) with one trailing newline (LF or CRLF)
// removed, and must not then be empty, nor have leading or trailing
// whitespace, a UTF-8 byte order mark or a control character. A file group
// or others can read is used, with a warning.
type File struct{}

var _ Source = File{}

// Fetch reads the files refs name, each afresh: a rotated key file is
// picked up by the next refresh.
func (File) Fetch(ctx context.Context, refs []Ref) []Result {
	return Each(ctx, refs, func(_ context.Context, ref Ref) Result {
		v, warnings, err := readFile(ref)
		return Result{Secret: Secret{Value: v, Warnings: warnings}, Err: err}
	})
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

// controlAt is the byte offset of the first character a key of printable
// text cannot hold: a control character, an invisible formatting character
// (a zero-width space or BOM pasted along with it), a line or paragraph
// separator, or a byte that is not UTF-8. -1 when there is none. A key with
// a stray CR or NUL would fail every upstream call with a misleading
// transport error; it is refused where the operator can fix it.
func controlAt(s string) int {
	return strings.IndexFunc(s, func(r rune) bool {
		return r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
	})
}

// CheckValue refuses a secret value a key cannot be: empty, with leading
// or trailing whitespace or a byte order mark, or with a control or
// invisible character. Sources that read documents (Vault, AWS Secrets
// Manager) apply the same rules as env: and file:, so a key pasted into a
// secret store with a stray newline fails here, naming ref, rather than
// upstream as a 401 that looks like a revoked key. The error never holds
// the value.
func CheckValue(ref Ref, s string) error {
	if s == "" {
		return fmt.Errorf("%s: the value is empty", ref)
	}
	if what := surroundingSpace(s); what != "" {
		return fmt.Errorf("%s: the value contains leading or trailing whitespace (%s)", ref, what)
	}
	if i := controlAt(s); i >= 0 {
		return fmt.Errorf("%s: the value contains a control character (or an invisible one) at byte %d; a key is one line of printable text", ref, i)
	}
	return nil
}
