package upstream

import (
	"errors"
	"net/url"
	"strings"
)

// ParseBaseURL is the one rule for a provider's base_url, applied by config
// validation and by the provider that builds requests from it: an absolute
// https URL with a host, optionally a path prefix, and nothing that could
// carry credentials or be silently dropped (userinfo, query, fragment).
// It returns the URL normalised for appending paths: the prefix in escaped
// form (RawPath) without its trailing slash, so "/v2/check" never yields
// "//". Errors never quote raw, which may hold a password in its userinfo.
func ParseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required: the upstream's https:// URL")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return nil, errors.New("must be an absolute https:// URL")
	case u.Scheme != "https":
		return nil, errors.New("must use https:// (upstream keys never travel in clear text)")
	case u.User != nil:
		return nil, errors.New("must not contain userinfo (credentials belong in keys, as secret references)")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("must not contain a query (use request.query)")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("must not contain a fragment")
	}
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	path, err := url.PathUnescape(prefix)
	if err != nil {
		path = prefix // EscapedPath output is always valid; kept for safety
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: path, RawPath: prefix}, nil
}
