package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

var _ Provider = (*SocialEye)(nil)

// SocialEye calls SocialEye's only public endpoint,
// GET {base_url}/v1/resolve?query=Q&type=T with a Bearer key. Its body is
// passed on as-is: the one fact we rely on is that it is a JSON object,
// which the transport checks.
type SocialEye struct {
	name       string
	endpoint   *url.URL
	types      typeSet
	doer       Doer
	validation upstream.Validation
	check      *authCheck
}

func newSocialEye(name string, cfg *config.Provider, doer Doer, schema *jsonschema.Schema) (*SocialEye, error) {
	if cfg.Request != nil {
		return nil, errors.New("request: only kind http takes a request description")
	}
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	types, err := newTypeSet(cfg.Types)
	if err != nil {
		return nil, err
	}
	check, err := newAuthCheck(cfg.AuthCheck, base)
	if err != nil {
		return nil, err
	}
	if check != nil && check.path != nil {
		return nil, errors.New("auth_check.path: only for kind http; use auth_check.indicator")
	}
	endpoint := *base
	endpoint.Path += "/v1/resolve"
	endpoint.RawPath += "/v1/resolve"
	return &SocialEye{
		check:      check,
		name:       name,
		endpoint:   &endpoint,
		types:      types,
		doer:       doer,
		validation: upstream.Validation{Schema: schema},
	}, nil
}

// Name returns the configured provider name.
func (s *SocialEye) Name() string { return s.name }

// Supports reports whether the provider is configured for t (all types by
// default: SocialEye resolves anything it is given).
func (s *SocialEye) Supports(t indicator.Type) bool { return s.types.supports(t) }

// Lookup resolves the normalised indicator. The client's own type parameter
// is passed through for /v1/resolve; otherwise SocialEye picks ("auto").
func (s *SocialEye) Lookup(ctx context.Context, req Request, key secret.Value) (Result, error) {
	if key.IsZero() {
		return Result{}, fmt.Errorf("provider %q: %w", s.name, errNoKey)
	}
	if req.Indicator.Value == "" {
		return Result{}, fmt.Errorf("provider %q: empty indicator: %w", s.name, ErrUnsafeIndicator)
	}
	typ := req.UpstreamType
	if typ == "" {
		typ = string(indicator.Auto)
	}
	u := *s.endpoint
	// What url.Values{"query": …, "type": …}.Encode() makes: names in
	// order, values QueryEscape'd.
	u.RawQuery = "query=" + url.QueryEscape(req.Indicator.Value) + "&type=" + url.QueryEscape(typ)
	hreq, err := newRequest(ctx, http.MethodGet, u, "")
	if err != nil {
		return Result{}, fmt.Errorf("provider %q: %w", s.name, err)
	}
	// Header.Set with canonical names, the two values in one array, each
	// slice capped at its own element.
	hv := []string{"application/json", "Bearer " + key.Reveal()}
	hreq.Header["Accept"] = hv[0:1:1]
	hreq.Header["Authorization"] = hv[1:2:2]
	return call(ctx, s.doer, hreq, s.validation, key.Reveal())
}
