package secret

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Secret is one resolved secret with what its source knows about it.
type Secret struct {
	Value Value
	// Version is the source's name for this value (a Vault KV v2 version
	// number, an AWS Secrets Manager version id); "" where the source has
	// none (env:, file:). A changed Version says the value was rewritten
	// even when it is the same.
	Version string
	// ChangedAt is when this value was written at the source (Vault's
	// created_time, the AWS version's CreatedDate); zero when the source
	// does not know (env:, file:). It feeds the key-age rule.
	ChangedAt time.Time
	// Warnings are problems that do not stop the secret from being used
	// but that an operator should fix (a key file others can read), each
	// naming the reference, never the secret.
	Warnings []string
}

// Result is the outcome of fetching one reference: a Secret, or an error
// that names the reference and never the secret.
type Result struct {
	Secret
	Err error
}

// Source fetches the secrets of one reference scheme: Env for env:, File
// for file:, internal/secret/vault for vault: and internal/secret/awssm
// for awssm:. Fetch returns one Result per ref, in the same order: a
// batch, so that a source whose documents hold several fields (a Vault
// secret, an AWS secret's JSON) reads each document once per refresh and
// every field of it comes from the same version. Implementations must be
// safe for concurrent use and must honour ctx; internal/secret/secrettest
// is the conformance suite every Source passes.
type Source interface {
	Fetch(ctx context.Context, refs []Ref) []Result
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
	"vault": unconfigured{"vault", "secrets.vault"},
	"awssm": unconfigured{"awssm", "secrets.aws"},
}}

// DefaultSources reads env: from the process environment and file: from
// the filesystem; vault: and awssm: references parse but resolve to an
// error wrapping ErrNotConfigured until their sources, which need the
// config's connection settings, are passed to With.
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

// FetchAll resolves refs, one Result per ref in order, handing each
// scheme's references to its source in one batch. A reference whose scheme
// has no source, or a zero reference, gets an error Result; the others are
// still fetched.
func (s Sources) FetchAll(ctx context.Context, refs []Ref) []Result {
	out := make([]Result, len(refs))
	if err := ctx.Err(); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	byScheme := map[string][]int{}
	for i, ref := range refs {
		switch _, ok := s.by[ref.Scheme]; {
		case ref.Scheme == "":
			out[i].Err = errors.New("no secret reference given")
		case !ok:
			out[i].Err = fmt.Errorf("unknown secret reference scheme %q", ref.Scheme)
		default:
			byScheme[ref.Scheme] = append(byScheme[ref.Scheme], i)
		}
	}
	for _, scheme := range slices.Sorted(maps.Keys(byScheme)) {
		idx := byScheme[scheme]
		batch := make([]Ref, len(idx))
		for j, i := range idx {
			batch[j] = refs[i]
		}
		res := s.by[scheme].Fetch(ctx, batch)
		for j, i := range idx {
			if j < len(res) {
				out[i] = res[j]
			} else {
				out[i].Err = fmt.Errorf("%s: the %s source returned no result", refs[i], scheme)
			}
		}
	}
	return out
}

// Fetch resolves one reference (see FetchAll).
func (s Sources) Fetch(ctx context.Context, ref Ref) (Secret, error) {
	r := s.FetchAll(ctx, []Ref{ref})[0]
	return r.Secret, r.Err
}

// Resolve fetches the secret ref points to, dropping its metadata and any
// warning.
func (s Sources) Resolve(ctx context.Context, ref Ref) (Value, error) {
	sec, err := s.Fetch(ctx, ref)
	return sec.Value, err
}

// Resolve fetches the secret ref points to with DefaultSources. See Env
// and File for what each accepts.
func Resolve(ctx context.Context, ref Ref) (Value, error) {
	return defaults.Resolve(ctx, ref)
}

// ErrNotConfigured is returned for vault: and awssm: references when the
// config has no connection settings for that source.
var ErrNotConfigured = errors.New("source not configured")

// unconfigured stands for a scheme that parses but whose source needs
// settings the config does not give.
type unconfigured struct{ scheme, section string }

func (u unconfigured) Fetch(_ context.Context, refs []Ref) []Result {
	out := make([]Result, len(refs))
	for i := range out {
		out[i].Err = fmt.Errorf("%s: references need the %s section: %w", u.scheme, u.section, ErrNotConfigured)
	}
	return out
}

// Each fetches each ref on its own with one: for sources whose references
// share nothing (env:, file:).
func Each(ctx context.Context, refs []Ref, one func(context.Context, Ref) Result) []Result {
	out := make([]Result, len(refs))
	for i, ref := range refs {
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		out[i] = one(ctx, ref)
	}
	return out
}

// IsZero reports whether s has no source at all (the zero Sources).
func (s Sources) IsZero() bool { return len(s.by) == 0 }
