package lookup

import (
	"context"
	"fmt"
	"slices"

	"github.com/intelgate/intelgate/internal/cache"
	"github.com/intelgate/intelgate/internal/indicator"
)

// PurgeRequest selects cached answers to remove: all of them (both
// fields empty), one provider's, or one indicator's at one provider.
type PurgeRequest struct {
	Provider  string
	Indicator string // as a client would send it; normalised like a lookup
}

// Purge removes cached answers for an administrator (Identity.Admin), on
// this replica and every other, and says how many durable entries went.
func (s *Service) Purge(ctx context.Context, id Identity, req PurgeRequest) (int, error) {
	if !id.Admin {
		return 0, newFailure(KindAdminRequired, fmt.Sprintf("client %s is not an administrator (admin: true)", id.Client))
	}
	scope, f := s.PurgeScope(req)
	if f != nil {
		return 0, f
	}
	if s.cache == nil {
		return 0, nil
	}
	n, err := s.cache.Purge(ctx, scope, id.Client, "admin")
	if err != nil {
		s.log.Error("cache purge failed", "by", id.Client, "error", err)
		return n, newFailure(KindUnavailable, "the purge did not complete on every tier; run it again")
	}
	return n, nil
}

// PurgeScope checks req and turns it into the cache's scope. An indicator
// is purged by its normalised form, which both a lookup and the resolve
// drop-in (whatever way its query was typed: EVIL[.]example) file it
// under, and as typed, for a resolve query that is no indicator.
func (s *Service) PurgeScope(req PurgeRequest) (cache.Scope, *Failure) {
	return PurgeScopeFor(s.order, req)
}

// PurgeScopeFor is PurgeScope against a list of configured providers, for
// tools that purge without a running service (intelgate cache purge).
func PurgeScopeFor(providers []string, req PurgeRequest) (cache.Scope, *Failure) {
	if req.Provider == "" {
		if req.Indicator != "" {
			return cache.Scope{}, paramFailure("provider", "required with indicator (a purge of one indicator names its provider)")
		}
		return cache.Scope{}, nil
	}
	if !slices.Contains(providers, req.Provider) {
		f := newFailure(KindUnknownProvider, fmt.Sprintf("provider: unknown provider %q", req.Provider))
		f.Parameter = "provider"
		return cache.Scope{}, f
	}
	scope := cache.Scope{Provider: req.Provider}
	if req.Indicator == "" {
		return scope, nil
	}
	raw, err := indicator.CheckInput(req.Indicator)
	if err != nil {
		return cache.Scope{}, paramFailure("indicator", err.Error())
	}
	scope.Indicators = []string{raw}
	if ind, err := indicator.Parse(raw, indicator.Auto); err == nil && ind.Value != raw {
		scope.Indicators = append(scope.Indicators, ind.Value)
	}
	return scope, nil
}
