package secret

import (
	"errors"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Ref is a parsed secret reference such as env:SOCIALEYE_API_KEY. The
// reference itself is not secret and prints as written.
type Ref struct {
	Scheme string // env, file, vault, awssm
	Path   string // variable name, file path, MOUNT/PATH or SECRET_ID
	Field  string // #FIELD for vault and awssm
	raw    string
}

// Reference syntax, as every error that refuses a value says it.
const Syntax = "env:NAME, file:PATH, vault:MOUNT/PATH#FIELD or awssm:SECRET_ID#FIELD"

// ErrLiteral is returned by ParseRef for anything that is not a reference
// in one of the known schemes. It is worded for the most likely cause — a key
// pasted into the config — and, like every ParseRef error, never repeats the
// input, because the input may be that key.
var ErrLiteral = errors.New("a literal secret is not allowed here; use " + Syntax)

// ErrInvalidRef wraps every error for a known scheme whose parts are wrong.
var ErrInvalidRef = errors.New("invalid secret reference")

// String returns the reference as written in config.
func (r Ref) String() string { return r.raw }

// IsZero reports whether no reference was given.
func (r Ref) IsZero() bool { return r.raw == "" }

// MarshalText writes the reference as written, so a config can be printed
// or re-encoded; a reference holds no secret.
func (r Ref) MarshalText() ([]byte, error) { return []byte(r.raw), nil }

// UnmarshalYAML lets a config field of type Ref be written as a plain scalar.
// An empty (null) value leaves the Ref zero, so "required" is for the caller
// to decide.
func (r *Ref) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a secret reference string: " + Syntax)
	}
	if n.ShortTag() == "!!null" {
		*r = Ref{}
		return nil
	}
	ref, err := ParseRef(n.Value)
	if err != nil {
		return err
	}
	*r = ref
	return nil
}

// WithBaseDir returns r with a relative file: path made absolute against dir,
// so the config's meaning does not depend on the working directory. Other
// references are returned unchanged.
func (r Ref) WithBaseDir(dir string) Ref {
	if r.Scheme != "file" || filepath.IsAbs(r.Path) {
		return r
	}
	p := filepath.Join(dir, r.Path)
	return Ref{Scheme: "file", Path: p, raw: "file:" + p}
}

// ParseRef parses a secret reference:
//
//	env:NAME                 an environment variable ([A-Za-z_][A-Za-z0-9_]*)
//	file:PATH                a file (relative paths resolve against the config's directory)
//	vault:MOUNT/PATH#FIELD   a HashiCorp Vault KV v2 secret's field
//	awssm:SECRET_ID#FIELD    an AWS Secrets Manager secret's JSON field
//
// Errors never contain s.
func ParseRef(s string) (Ref, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Ref{}, ErrLiteral
	}
	var (
		r   Ref
		err error
	)
	switch scheme {
	case "env":
		r, err = parseEnv(rest)
	case "file":
		r, err = parseFile(rest)
	case "vault":
		r, err = parseVault(rest)
	case "awssm":
		r, err = parseAWSSM(rest)
	default:
		return Ref{}, ErrLiteral
	}
	if err != nil {
		return Ref{}, err
	}
	r.Scheme, r.raw = scheme, s
	return r, nil
}

func invalid(msg string) error { return &refError{msg: msg} }

// refError is an ErrInvalidRef with a message that names the broken part
// but not its content.
type refError struct{ msg string }

func (e *refError) Error() string { return "invalid secret reference: " + e.msg }
func (e *refError) Unwrap() error { return ErrInvalidRef }

func parseEnv(name string) (Ref, error) {
	if !isEnvName(name) {
		return Ref{}, invalid("env:NAME needs a variable name of letters, digits and underscores, not starting with a digit")
	}
	return Ref{Path: name}, nil
}

func parseFile(path string) (Ref, error) {
	if path == "" {
		return Ref{}, invalid("file:PATH needs a path")
	}
	if hasControl(path) {
		return Ref{}, invalid("file:PATH must not contain control characters")
	}
	return Ref{Path: filepath.Clean(path)}, nil
}

func parseVault(rest string) (Ref, error) {
	const form = "must be vault:MOUNT/PATH#FIELD"
	p, field, ok := strings.Cut(rest, "#")
	if !ok || field == "" {
		return Ref{}, invalid(form + " (missing #FIELD)")
	}
	mount, path, ok := strings.Cut(p, "/")
	if !ok || mount == "" || path == "" {
		return Ref{}, invalid(form + " (missing MOUNT or PATH)")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." || hasControl(seg) {
			return Ref{}, invalid(form + " (empty, relative or unprintable path segment)")
		}
	}
	if hasControl(field) || strings.Contains(field, "#") {
		return Ref{}, invalid(form + " (unprintable FIELD)")
	}
	return Ref{Path: p, Field: field}, nil
}

func parseAWSSM(rest string) (Ref, error) {
	const form = "must be awssm:SECRET_ID#FIELD"
	id, field, ok := strings.Cut(rest, "#")
	if !ok || field == "" {
		return Ref{}, invalid(form + " (missing #FIELD)")
	}
	// Secret names are 1–512 of [A-Za-z0-9/_+=.@-]; ARNs add ':'.
	if id == "" || len(id) > 2048 || strings.IndexFunc(id, func(c rune) bool {
		return !isAlnum(c) && !strings.ContainsRune("/_+=.@-:", c)
	}) >= 0 {
		return Ref{}, invalid(form + " (SECRET_ID is a name or ARN of letters, digits and /_+=.@-:)")
	}
	if hasControl(field) || strings.Contains(field, "#") {
		return Ref{}, invalid(form + " (unprintable FIELD)")
	}
	return Ref{Path: id, Field: field}, nil
}

func isEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f }) >= 0
}
