package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/indicator"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/upstream"
)

// ErrNoAuthCheck: the provider has no auth_check, so nothing can confirm
// that a key the upstream refused is really bad.
var ErrNoAuthCheck = errors.New("no auth_check configured")

// authCheck is a validated config.AuthCheck: a fixed indicator looked up
// through the provider's own request, or (kind http) a fixed path.
type authCheck struct {
	ind  *indicator.Indicator
	path *url.URL // absolute, already escaped; nil for an indicator check
}

// newAuthCheck checks c (nil: no check) against base, the provider's
// parsed base_url.
func newAuthCheck(c *config.AuthCheck, base *url.URL) (*authCheck, error) {
	if c == nil {
		return nil, nil
	}
	switch {
	case c.Indicator != "" && c.Path == "":
		hint := c.Type
		if hint == "" {
			hint = indicator.Auto
		}
		ind, err := indicator.Parse(c.Indicator, hint)
		if err != nil {
			return nil, fmt.Errorf("auth_check.indicator: %w", err)
		}
		return &authCheck{ind: &ind}, nil
	case c.Path != "" && c.Indicator == "":
		if err := validPathLiteral(c.Path); err != nil {
			return nil, fmt.Errorf("auth_check.path: %w", err)
		}
		escaped := base.RawPath + c.Path
		if err := checkSegments(escaped); err != nil {
			return nil, fmt.Errorf("auth_check.path: %w", err)
		}
		return &authCheck{path: &url.URL{Scheme: base.Scheme, Host: base.Host,
			Path: unescapePath(escaped), RawPath: escaped}}, nil
	default:
		return nil, errors.New("auth_check: needs exactly one of indicator and path")
	}
}

// CheckAuth asks the upstream whether key is valid with the fixed
// auth_check request. nil means the key was accepted (an answer of "no
// data" included); an *upstream.Error of KindAuth carries the refusal's
// status. Nothing a client chose is in this request, which is why its
// refusal may revoke a key and a lookup's may not.
func (s *SocialEye) CheckAuth(ctx context.Context, key secret.Value) error {
	if s.check == nil {
		return fmt.Errorf("provider %q: %w", s.name, ErrNoAuthCheck)
	}
	_, err := s.Lookup(ctx, Request{Indicator: *s.check.ind}, key)
	return err
}

// CheckAuth is SocialEye.CheckAuth for a kind: http provider: a lookup of
// the fixed indicator, or a GET of the fixed path with the provider's
// headers and key placement.
func (h *HTTP) CheckAuth(ctx context.Context, key secret.Value) error {
	switch {
	case h.check == nil:
		return fmt.Errorf("provider %q: %w", h.name, ErrNoAuthCheck)
	case h.check.ind != nil:
		_, err := h.Lookup(ctx, Request{Indicator: *h.check.ind}, key)
		return err
	case key.IsZero():
		return fmt.Errorf("provider %q: %w", h.name, errNoKey)
	}
	u := *h.check.path
	if h.auth.in == AuthQuery {
		u.RawQuery = url.Values{h.auth.name: {key.Reveal()}}.Encode()
	}
	hreq, err := newRequest(ctx, http.MethodGet, u, "")
	if err != nil {
		return fmt.Errorf("provider %q: %w", h.name, err)
	}
	h.setHeader(hreq.Header, "", key)
	// The account endpoint's answer is not the lookup's: no schema. And
	// unlike a lookup's, its "no data" is no answer about the key: a 404
	// from a fixed endpoint means the path is wrong or retired, and taking
	// it for "accepted" would clear every suspect key.
	res, err := call(ctx, h.doer, hreq, upstream.Validation{NotFoundStatus: h.notFound}, key.Reveal())
	if err == nil && res.NotFound {
		return &upstream.Error{Kind: upstream.KindRejected, Status: http.StatusNotFound,
			Detail: "the auth_check.path endpoint answered " + http.StatusText(http.StatusNotFound) + "; check the path"}
	}
	return err
}

// header is the header that carries key, its name canonical: a bearer
// token, or the auth placement's header and prefix. ok is false for a query
// placement, which the caller adds to the URL or form.
func (a auth) header(key secret.Value) (name, value string, ok bool) {
	switch a.in {
	case AuthBearer:
		return "Authorization", "Bearer " + key.Reveal(), true
	case AuthHeader:
		return a.name, a.prefix + key.Reveal(), true
	}
	return "", "", false
}
