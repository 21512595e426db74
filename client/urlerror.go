package client

import (
	"net/url"
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
// refused"). The result is still a *url.Error with the same Op and cause,
// so errors.Is and errors.As (net.Error, context.DeadlineExceeded) see
// what they did.
func withoutQuery(err error) error {
	ue, ok := err.(*url.Error)
	if !ok {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return &url.Error{Op: ue.Op, URL: "(request URL withheld)", Err: ue.Err}
	}
	return &url.Error{Op: ue.Op, URL: stripQuery(u), Err: ue.Err}
}
