package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/intelgate/intelgate/internal/secret"
)

// maxParallelReads bounds the documents one Fetch reads at once: a
// refresh of many secrets against a Vault that does not answer should
// take a few timeouts, not one per document.
const maxParallelReads = 4

// Fetch reads the KV version 2 documents refs point to, each once (one
// GET of MOUNT/data/PATH per distinct MOUNT/PATH, the mount being the
// first path segment), so every field of a batch comes from the same
// version. Version is the KV version number, ChangedAt its created_time.
// A missing secret or field, a field that is not a string or not a
// usable key (secret.CheckValue), or a deleted or destroyed current
// version fails only the references it concerns.
func (s *Source) Fetch(ctx context.Context, refs []secret.Ref) []secret.Result {
	out := make([]secret.Result, len(refs))
	if err := ctx.Err(); err != nil {
		for i, ref := range refs {
			out[i].Err = fmt.Errorf("%s: %w", ref, err)
		}
		return out
	}
	var paths []string
	byPath := map[string][]int{}
	for i, ref := range refs {
		if _, _, ok := strings.Cut(ref.Path, "/"); ref.Scheme != "vault" || !ok || ref.Field == "" {
			out[i].Err = fmt.Errorf("%s: not a vault:MOUNT/PATH#FIELD reference", ref)
			continue
		}
		if _, seen := byPath[ref.Path]; !seen {
			paths = append(paths, ref.Path)
		}
		byPath[ref.Path] = append(byPath[ref.Path], i)
	}
	docs := make([]document, len(paths))
	sem := make(chan struct{}, maxParallelReads)
	var wg sync.WaitGroup
	for j, p := range paths {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			docs[j] = s.read(ctx, p)
		})
	}
	wg.Wait()
	for j, p := range paths {
		for _, i := range byPath[p] {
			out[i] = docs[j].field(refs[i])
		}
	}
	return out
}

// document is one read of one KV secret: its current version, or why
// there is none.
type document struct {
	data     map[string]any
	version  string
	changed  time.Time
	warnings []string
	err      error
}

func (s *Source) read(ctx context.Context, p string) document {
	mount, path, _ := strings.Cut(p, "/")
	kv, err := s.get(ctx, mount, path)
	if err != nil {
		switch {
		case errors.Is(err, ErrNotFound):
			return document{err: fmt.Errorf("%w (is %s a KV version 2 mount?)", ErrNotFound, mount)}
		case statusCode(err) == http.StatusForbidden:
			s.poke() // a revoked token shows first here
		}
		return document{err: fmt.Errorf("reading %s: %w", p, err)}
	}
	meta := kv.VersionMetadata
	if meta == nil {
		return document{err: fmt.Errorf("reading %s: the answer has no version metadata (is %s a KV version 2 mount?)", p, mount)}
	}
	d := document{data: kv.Data, version: strconv.Itoa(meta.Version), changed: meta.CreatedTime}
	now := s.now()
	switch {
	case meta.Destroyed:
		d.err = fmt.Errorf("%w (version %d); write a new version", ErrDestroyed, meta.Version)
	case kv.Data == nil || (!meta.DeletionTime.IsZero() && !meta.DeletionTime.After(now)):
		at := ""
		if !meta.DeletionTime.IsZero() {
			at = ", at " + meta.DeletionTime.UTC().Format(time.RFC3339)
		}
		d.err = fmt.Errorf("%w (version %d%s); undelete it or write a new version", ErrDeleted, meta.Version, at)
	case !meta.DeletionTime.IsZero():
		// delete_version_after: the version works now and will not soon.
		d.warnings = []string{fmt.Sprintf("vault:%s: version %d is scheduled for deletion at %s (delete_version_after)",
			p, meta.Version, meta.DeletionTime.UTC().Format(time.RFC3339))}
	}
	return d
}

// get reads the current version of MOUNT/PATH; errors went through
// describe. A read refused 403 after Run replaced the token it was sent
// with is made once more with the new one: Run revokes the token it
// replaces, and a read still in flight on it must not fail a refresh.
func (s *Source) get(ctx context.Context, mount, path string) (*api.KVSecret, error) {
	tok := s.client.Token()
	kv, err := s.client.KVv2(mount).Get(ctx, path)
	err = describe(err)
	if statusCode(err) == http.StatusForbidden && s.client.Token() != tok && ctx.Err() == nil {
		kv, err = s.client.KVv2(mount).Get(ctx, path)
		err = describe(err)
	}
	return kv, err
}

// field is ref's field of d. Errors name ref (its MOUNT/PATH and FIELD)
// and never the value.
func (d document) field(ref secret.Ref) secret.Result {
	if d.err != nil {
		return secret.Result{Err: fmt.Errorf("%s: %w", ref, d.err)}
	}
	raw, ok := d.data[ref.Field]
	if !ok {
		return secret.Result{Err: fmt.Errorf("%s: %w in version %s", ref, ErrNoField, d.version)}
	}
	str, ok := raw.(string)
	if !ok {
		return secret.Result{Err: fmt.Errorf("%s: %w: it is a JSON %s (version %s)", ref, ErrNotString, jsonKind(raw), d.version)}
	}
	if err := secret.CheckValue(ref, str); err != nil {
		return secret.Result{Err: fmt.Errorf("%w (version %s)", err, d.version)}
	}
	return secret.Result{Secret: secret.Secret{
		Value: secret.NewValue(str), Version: d.version, ChangedAt: d.changed, Warnings: slices.Clone(d.warnings),
	}}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}
