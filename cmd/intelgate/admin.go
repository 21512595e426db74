package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// adminCall sends one request to a running gateway's admin API with the
// token in INTELGATE_TOKEN (an admin client's) and returns the 2xx body;
// anything else is an error in words for the operator (the problem's title
// and detail, never the token).
func adminCall(ctx context.Context, getenv func(string) string, method, path string, body string) ([]byte, error) {
	base, token := strings.TrimRight(getenv("INTELGATE_URL"), "/"), getenv("INTELGATE_TOKEN")
	switch {
	case base == "":
		return nil, fmt.Errorf("INTELGATE_URL is not set: export the gateway's base URL")
	case token == "":
		return nil, fmt.Errorf("INTELGATE_TOKEN is not set: export an admin client's gateway token")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("INTELGATE_URL: must be an absolute http:// or https:// URL")
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("INTELGATE_URL: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "intelgate-cli")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the gateway: %s", strings.ReplaceAll(err.Error(), token, "[REDACTED]"))
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var p struct{ Title, Detail string }
		if json.Unmarshal(out, &p) == nil && p.Title != "" {
			return nil, fmt.Errorf("%s (%d): %s", safe(p.Title), resp.StatusCode, safe(p.Detail))
		}
		return nil, fmt.Errorf("the gateway answered %d", resp.StatusCode)
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("the gateway's answer is not JSON")
	}
	return out, nil
}
