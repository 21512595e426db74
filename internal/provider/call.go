package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/intelgate/intelgate/internal/upstream"
)

// parseBaseURL is upstream.ParseBaseURL, its error named for the field.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := upstream.ParseBaseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("base_url: %w", err)
	}
	return u, nil
}

// unescapePath undoes EscapedPath output, which is always valid.
func unescapePath(p string) string {
	s, err := url.PathUnescape(p)
	if err != nil {
		return p
	}
	return s
}

// newRequest builds the outbound request from an already assembled URL.
// The URL is copied in after construction instead of being parsed from a
// string, so no parse error can ever quote it — it may hold the key (auth in
// query) or the indicator. It is copied into the URL the request was built
// with (parsed from "", so fresh and empty): one URL per request, not two.
func newRequest(ctx context.Context, method string, u url.URL, body string) (*http.Request, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "", r)
	if err != nil {
		return nil, fmt.Errorf("building upstream request: %w", err)
	}
	*req.URL = u
	req.Host = u.Host
	return req, nil
}

// call sends req and maps the answer. An upstream "no data" answer is a
// result, not a failure: it is reported per provider as not_found (and,
// once the cache lands, cached for the negative TTL).
func call(ctx context.Context, doer Doer, req *http.Request, v upstream.Validation, key string) (Result, error) {
	v.Secret = key // error details are withheld for the key, not for the indicator
	resp, err := doer.Do(ctx, req, v)
	if err != nil {
		var ue *upstream.Error
		if errors.As(err, &ue) && ue.Kind == upstream.KindNotFound {
			return Result{NotFound: true, Status: ue.Status, PauseFor: ue.RetryAfter}, nil
		}
		return Result{}, redact(err, key)
	}
	if resp == nil {
		return Result{}, errors.New("upstream transport returned no response and no error")
	}
	return Result{Data: resp.Body, Status: resp.Status, PauseFor: resp.ExhaustedFor}, nil
}
