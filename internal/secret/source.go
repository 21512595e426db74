package secret

import (
	"context"
	"errors"
	"fmt"
	"maps"
)

// Source fetches the secrets of one reference scheme: Env for env:, File
// for file:, and later Vault and AWS Secrets Manager. Errors name the
// reference, never the secret. Implementations must be safe for
// concurrent use.
type Source interface {
	Resolve(ctx context.Context, ref Ref) (Value, error)
}

// WarningSource is a Source that can also report problems that do not stop
// a secret from being used but that an operator should fix (File: a key
// file group or others can read). Each warning names the reference, never
// the secret.
type WarningSource interface {
	Source
	ResolveWithWarnings(ctx context.Context, ref Ref) (Value, []string, error)
}

// Sources resolves each reference with the Source registered for its
// scheme. ParseRef decides which schemes exist; Sources decides how each is
// fetched, so a new backend is one Source passed to With, not new plumbing.
// A Sources is immutable: With returns a new one.
type Sources struct {
	by map[string]Source // scheme → source
}

// defaults is DefaultSources, built once: a Sources is never changed.
var defaults = Sources{by: map[string]Source{
	"env":   Env{},
	"file":  File{},
	"vault": unsupported{},
	"awssm": unsupported{},
}}

// DefaultSources reads env: from the process environment and file: from
// the filesystem; vault: and awssm: references parse but resolve to an
// error wrapping ErrNotSupported until their sources exist.
func DefaultSources() Sources { return defaults }

// With returns s with src resolving scheme's references instead of
// whatever did before; s itself is unchanged.
func (s Sources) With(scheme string, src Source) Sources {
	by := maps.Clone(s.by)
	if by == nil {
		by = map[string]Source{}
	}
	by[scheme] = src
	return Sources{by: by}
}

// Resolve fetches the secret ref points to, dropping any warning (see
// ResolveWithWarnings).
func (s Sources) Resolve(ctx context.Context, ref Ref) (Value, error) {
	v, _, err := s.ResolveWithWarnings(ctx, ref)
	return v, err
}

// ResolveWithWarnings fetches the secret ref points to with its scheme's
// source, with that source's warnings (none from a Source that is not a
// WarningSource).
func (s Sources) ResolveWithWarnings(ctx context.Context, ref Ref) (Value, []string, error) {
	if err := ctx.Err(); err != nil {
		return Value{}, nil, err
	}
	if ref.Scheme == "" {
		return Value{}, nil, errors.New("no secret reference given")
	}
	src, ok := s.by[ref.Scheme]
	if !ok {
		return Value{}, nil, fmt.Errorf("unknown secret reference scheme %q", ref.Scheme)
	}
	if ws, ok := src.(WarningSource); ok {
		return ws.ResolveWithWarnings(ctx, ref)
	}
	v, err := src.Resolve(ctx, ref)
	return v, nil, err
}

// Resolve fetches the secret ref points to with DefaultSources. See Env
// and File for what each accepts.
func Resolve(ctx context.Context, ref Ref) (Value, error) {
	return defaults.Resolve(ctx, ref)
}

// unsupported stands for a scheme that parses but has no source yet.
type unsupported struct{}

func (unsupported) Resolve(_ context.Context, ref Ref) (Value, error) {
	return Value{}, fmt.Errorf("%s: references are %w", ref.Scheme, ErrNotSupported)
}
