package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/intelgate/intelgate/internal/secret"
)

// minRefresh keeps a typo ("5s" for "5m") from polling a secret store
// every few seconds from every replica.
const minRefresh = 10 * time.Second

var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// secretSettings checks the secrets and rotation sections.
func (v *validator) secretSettings() {
	s := v.cfg.Secrets
	if s.Refresh.Std() < minRefresh {
		v.add("secrets.refresh", "must be at least %s (every secret is re-read this often, from every replica)", minRefresh)
	}
	if s.Timeout <= 0 {
		v.add("secrets.timeout", "must be greater than 0")
	}
	if s.MaxStale <= s.Refresh {
		v.add("secrets.max_stale", "must be longer than secrets.refresh (%s): it is how long a failing source's last good value is used", s.Refresh)
	}
	if s.Vault != nil {
		v.vault(*s.Vault)
	}
	if s.AWS != nil {
		v.aws(*s.AWS)
	}
	r := v.cfg.Rotation
	if r.Period <= 0 {
		v.add("rotation.period", "must be greater than 0")
	}
	if r.WarnBefore < 0 || (r.Period > 0 && r.WarnBefore >= r.Period) {
		v.add("rotation.warn_before", "must be at least 0 and shorter than rotation.period (%s)", r.Period)
	}
	if r.Overlap < 0 || r.Overlap.Std() > 24*time.Hour {
		v.add("rotation.overlap", "must be between 0 (off) and 24h")
	}
}

func (v *validator) vault(c Vault) {
	v.httpsURL("secrets.vault.address", c.Address, true)
	if c.Namespace != "" && hasControl(c.Namespace) {
		v.add("secrets.vault.namespace", "must be printable")
	}
	if c.Timeout <= 0 {
		v.add("secrets.vault.timeout", "must be greater than 0")
	}
	a := c.Auth
	uses := map[string]bool{}
	switch a.Method {
	case "token":
		uses["token"] = true
		v.bootstrapRef("secrets.vault.auth.token", a.Token)
	case "approle":
		uses["role_id"], uses["secret_id"], uses["mount"] = true, true, true
		v.bootstrapRef("secrets.vault.auth.role_id", a.RoleID)
		v.bootstrapRef("secrets.vault.auth.secret_id", a.SecretID)
	case "kubernetes":
		uses["role"], uses["service_account_token_file"], uses["mount"] = true, true, true
		if a.Role == "" {
			v.add("secrets.vault.auth.role", "required with method kubernetes: the Vault role bound to the service account")
		}
	case "":
		v.add("secrets.vault.auth.method", "required: token, approle or kubernetes")
	default:
		v.add("secrets.vault.auth.method", "must be token, approle or kubernetes, not %s", quote(a.Method))
	}
	if a.Method == "" || !slices.Contains([]string{"token", "approle", "kubernetes"}, a.Method) {
		return
	}
	set := map[string]bool{"token": !a.Token.IsZero(), "role_id": !a.RoleID.IsZero(), "secret_id": !a.SecretID.IsZero(),
		"role": a.Role != "", "service_account_token_file": a.ServiceAccountTokenFile != "", "mount": a.Mount != ""}
	for _, f := range []string{"token", "role_id", "secret_id", "role", "service_account_token_file", "mount"} {
		if set[f] && !uses[f] {
			v.add("secrets.vault.auth."+f, "not used with method %s", a.Method)
		}
	}
	badSegment := func(seg string) bool { return !ValidName(seg) }
	if a.Mount != "" && slices.ContainsFunc(strings.Split(a.Mount, "/"), badSegment) {
		v.add("secrets.vault.auth.mount", "must be a mount path whose segments are each %s (e.g. kubernetes/prod)", strings.TrimPrefix(nameRule, "must be "))
	}
}

// bootstrapRef checks a credential of a secret source: it must be given,
// and it must come from env: or file:, since the source it unlocks cannot
// resolve its own credentials.
func (v *validator) bootstrapRef(field string, r secret.Ref) {
	switch {
	case r.IsZero():
		v.add(field, "required; use env:NAME or file:PATH")
	case r.Scheme != "env" && r.Scheme != "file":
		v.add(field, "must be an env: or file: reference: a secret source's own credentials cannot come from a secret source")
	}
}

func (v *validator) aws(c AWS) {
	if c.Region != "" && !awsRegion.MatchString(c.Region) {
		v.add("secrets.aws.region", "must be an AWS region such as eu-west-1, not %s", quote(c.Region))
	}
	if c.VersionStage == "" || len(c.VersionStage) > 256 || hasControl(c.VersionStage) {
		v.add("secrets.aws.version_stage", "must be a staging label of 1–256 printable characters (default AWSCURRENT)")
	}
	if c.Endpoint != "" {
		v.httpsURL("secrets.aws.endpoint", c.Endpoint, false)
	}
	if c.Timeout <= 0 {
		v.add("secrets.aws.timeout", "must be greater than 0")
	}
}

// httpsURL checks that s is an absolute https:// URL of a host, with no
// credentials, query or fragment: the secrets' own transport is never
// plaintext.
func (v *validator) httpsURL(field, s string, required bool) {
	if s == "" {
		if required {
			v.add(field, "required: the server's https:// URL")
		}
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "":
		v.add(field, "must be an absolute https:// URL")
	case u.Scheme != "https":
		v.add(field, "must be https://: secrets never travel in plaintext")
	case u.User != nil:
		v.add(field, "must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		v.add(field, "must be the server's base URL, without a path, query or fragment")
	}
}
