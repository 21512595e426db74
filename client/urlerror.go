package client

import (
	"errors"
	"net/url"
	"strings"
)

// stripQuery reduces a request URL to scheme://host/path for messages: the
// query holds the indicator (or the resolve query), which the caller may be
// keeping out of logs on purpose — it is what TLP governs — and an error is
// the thing most likely to be logged.
func stripQuery(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

// withoutQuery returns err with its request URL reduced by stripQuery when
// it is the *url.Error net/http returns from Do, which quotes the whole URL
// ("Get \"http://gw/v1/lookup?indicator=…\": dial tcp …: connection
// refused"). The URL reported is the one the caller asked for, not a
// redirect's target, whose path may hold the indicator too; a cause that
// quotes a redirect's Location is replaced, since that is server text
// built from the request. The result is still a *url.Error with the same
// Op and, otherwise, the same cause, so errors.Is and errors.As (net.Error,
// context.DeadlineExceeded) see what they did.
func withoutQuery(err error, requested *url.URL) error {
	ue, ok := err.(*url.Error)
	if !ok {
		return err
	}
	cause := ue.Err
	if cause != nil && strings.Contains(cause.Error(), "Location") {
		cause = errors.New("the server sent an unusable redirect (its Location is withheld)")
	}
	return &url.Error{Op: ue.Op, URL: stripQuery(requested), Err: cause}
}
