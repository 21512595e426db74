package vaulttest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// defaultTTL is Vault's default token TTL and system max TTL (32 days).
const defaultTTL = 768 * time.Hour

// TokenOptions describe the tokens the server issues: directly
// (IssueToken) or at a role's login.
type TokenOptions struct {
	// TTL is the token's lifetime at issue, and what a renewal that asks
	// for no increment extends it by (its creation_ttl). For IssueToken, 0
	// is a token that never expires, like a root token; for a role, 0 is
	// Vault's default, 768h.
	TTL time.Duration
	// MaxTTL bounds the token's life from its issue, whatever renewals
	// ask for: past it, renew-self caps the TTL and warns, as Vault does.
	// 0 is Vault's default system max, 768h.
	MaxTTL time.Duration
	// NotRenewable makes renew-self refuse the token with Vault's "lease
	// is not renewable" (a role with token_renewable=false, a batch token).
	NotRenewable bool
	// Policies are reported at login and lookup; default ["default"].
	// They grant nothing: the server has no ACLs.
	Policies []string
	// Batch issues batch tokens (a role's token_type=batch): prefixed
	// hvb., without an accessor, never renewable, and revoke-self answers
	// them 400 "batch tokens cannot be revoked", as Vault does; they
	// expire at their TTL.
	Batch bool
}

// AppRole is a role of an AppRole auth mount.
type AppRole struct {
	Mount    string // default "approle"
	Name     string // reported in the token's metadata
	RoleID   string
	SecretID string
	Token    TokenOptions
}

// KubernetesRole is a role of a Kubernetes auth mount. Instead of asking a
// cluster's TokenReview API, the server accepts exactly one service
// account JWT per role: set it again to rotate it.
type KubernetesRole struct {
	Mount string // default "kubernetes"
	Role  string
	JWT   string
	Token TokenOptions
}

type token struct {
	id, accessor, path string
	policies           []string
	issued, expires    time.Time // expires zero: never
	ttl, maxTTL        time.Duration
	renewable, batch   bool
}

func (t *token) live(now time.Time) bool { return t.expires.IsZero() || now.Before(t.expires) }

// issueLocked creates a token; s.mu is held (or s is not yet shared).
func (s *Server) issueLocked(o TokenOptions, path string) string {
	now := s.now()
	t := &token{
		id: "hvs." + randomID(24), accessor: randomID(18), path: path, policies: o.Policies,
		issued: now, ttl: o.TTL, maxTTL: o.MaxTTL, renewable: !o.NotRenewable,
	}
	if o.Batch {
		t.id, t.accessor, t.renewable, t.batch = "hvb."+randomID(24), "", false, true
	}
	if t.policies == nil {
		t.policies = []string{"default"}
	}
	if o.TTL > 0 {
		if t.maxTTL <= 0 {
			t.maxTTL = defaultTTL
		}
		t.expires = now.Add(min(o.TTL, t.maxTTL))
	}
	s.tokens[t.id] = t
	s.issued = append(s.issued, t.id)
	return t.id
}

// RootToken is a token that never expires and cannot be renewed, like the
// root token of a dev server.
func (s *Server) RootToken() string { return s.root }

// IssueToken creates a token, as POST /v1/auth/token/create would.
func (s *Server) IssueToken(o TokenOptions) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(o, "auth/token/create")
}

// Revoke revokes token: every later request with it is "permission denied".
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// SelfRevoked lists the tokens revoked with revoke-self, oldest first: what
// a client gave up of its own accord (Revoke and RevokeAll are not in it).
func (s *Server) SelfRevoked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.selfRevoked...)
}

// RevokeAll revokes every token but the root token, as an incident
// responder revoking a role's leases would.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.tokens {
		if id != s.root {
			delete(s.tokens, id)
		}
	}
}

// Tokens lists every token the server has issued, revoked or not, so a
// test can check that none of them ever appears in a log or an error.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// RefuseRenewals makes renew-self answer as Vault does for a token that
// cannot be renewed (400 "lease is not renewable"), while lookup-self
// still says it is renewable, until called with false.
func (s *Server) RefuseRenewals(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseRenewals = refuse
}

// SetAppRole creates the AppRole role r, or replaces the role with its
// RoleID (to rotate its secret ID).
func (s *Server) SetAppRole(r AppRole) {
	if r.Mount == "" {
		r.Mount = "approle"
	}
	r.Token = roleTokenDefaults(r.Token)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setAuthMountLocked(r.Mount, "approle")
	s.approles[r.Mount+"\x00"+r.RoleID] = r
}

// SetKubernetesRole creates the Kubernetes role r, or replaces the role of
// that name (to rotate the JWT it accepts).
func (s *Server) SetKubernetesRole(r KubernetesRole) {
	if r.Mount == "" {
		r.Mount = "kubernetes"
	}
	r.Token = roleTokenDefaults(r.Token)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setAuthMountLocked(r.Mount, "kubernetes")
	s.k8sRoles[r.Mount+"\x00"+r.Role] = r
}

func (s *Server) setAuthMountLocked(mount, kind string) {
	if k, ok := s.authMounts[mount]; ok && k != kind {
		panic(fmt.Sprintf("vaulttest: auth mount %q is already a %s mount", mount, k))
	}
	s.authMounts[mount] = kind
}

func roleTokenDefaults(o TokenOptions) TokenOptions {
	if o.TTL <= 0 {
		o.TTL = defaultTTL
	}
	return o
}

// authenticate is the token of r's X-Vault-Token if it is live.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	id := r.Header.Get("X-Vault-Token")
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[id]
	return id, ok && t.live(s.now())
}

// liveLocked is the live token id, or nil (revoked or expired meanwhile).
func (s *Server) liveLocked(id string) *token {
	if t, ok := s.tokens[id]; ok && t.live(s.now()) {
		return t
	}
	return nil
}

// authObject is the "auth" object of a login or renewal answer: granted
// is the TTL just granted (0 for a token that does not expire).
func authObject(t *token, granted time.Duration, metadata map[string]string) map[string]any {
	lease := int(granted / time.Second)
	return map[string]any{
		"client_token": t.id, "accessor": t.accessor, "policies": t.policies, "token_policies": t.policies,
		"metadata": metadata, "lease_duration": lease, "renewable": t.renewable,
		"entity_id": "", "token_type": t.kind(), "orphan": true, "num_uses": 0,
	}
}

// kind is the token's token_type.
func (t *token) kind() string {
	if t.batch {
		return "batch"
	}
	return "service"
}

// login answers POST /v1/auth/MOUNT/login for the AppRole ("role_id",
// "secret_id": https://developer.hashicorp.com/vault/api-docs/auth/approle#login-with-approle)
// and Kubernetes ("role", "jwt":
// https://developer.hashicorp.com/vault/api-docs/auth/kubernetes#login)
// methods, with the documented {"auth": {"client_token", "accessor",
// "policies", "lease_duration", "renewable", ...}}. Wrong AppRole
// credentials are 400 "invalid role or secret ID", an unknown Kubernetes
// role 400, a JWT the role does not accept 403.
func (s *Server) login(w http.ResponseWriter, r *http.Request, mount string) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	var body struct {
		RoleID   string `json:"role_id"`
		SecretID string `json:"secret_id"`
		Role     string `json:"role"`
		JWT      string `json:"jwt"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		opts TokenOptions
		meta map[string]string
	)
	switch s.authMounts[mount] {
	case "approle":
		role, ok := s.approles[mount+"\x00"+body.RoleID]
		if !ok || subtle.ConstantTimeCompare([]byte(role.SecretID), []byte(body.SecretID)) != 1 {
			s.counts.FailedLogins++
			writeErrors(w, http.StatusBadRequest, "invalid role or secret ID")
			return
		}
		opts, meta = role.Token, map[string]string{"role_name": role.Name}
	case "kubernetes":
		role, ok := s.k8sRoles[mount+"\x00"+body.Role]
		if !ok {
			s.counts.FailedLogins++
			writeErrors(w, http.StatusBadRequest, fmt.Sprintf("invalid role name %q", body.Role))
			return
		}
		if subtle.ConstantTimeCompare([]byte(role.JWT), []byte(body.JWT)) != 1 {
			s.counts.FailedLogins++
			writeErrors(w, http.StatusForbidden, "permission denied")
			return
		}
		opts, meta = role.Token, map[string]string{"role": role.Role}
	default:
		writeErrors(w, http.StatusNotFound, "no handler for route \"auth/"+mount+"/login\". route entry not found.")
		return
	}
	t := s.tokens[s.issueLocked(opts, "auth/"+mount+"/login")]
	s.counts.Logins++
	writeJSON(w, http.StatusOK, envelope(nil, authObject(t, t.expires.Sub(t.issued), meta), nil))
}

// lookupSelf answers GET /v1/auth/token/lookup-self
// (https://developer.hashicorp.com/vault/api-docs/auth/token#lookup-a-token-self):
// data with ttl (whole seconds left, truncated), expire_time (null for a
// token that never expires), renewable, creation_ttl, explicit_max_ttl,
// policies, accessor and the token's id, as the documentation's sample.
func (s *Server) lookupSelf(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.liveLocked(id)
	if t == nil {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	s.counts.Lookups++
	now := s.now()
	ttl, explicitMax := 0, 0
	var expire any // JSON null for a token that never expires
	if !t.expires.IsZero() {
		ttl, expire, explicitMax = int(t.expires.Sub(now)/time.Second), rfc3339(t.expires), int(t.maxTTL/time.Second)
	}
	writeJSON(w, http.StatusOK, envelope(map[string]any{
		"accessor": t.accessor, "creation_time": t.issued.Unix(), "creation_ttl": int(t.ttl / time.Second),
		"display_name": "token", "entity_id": "", "expire_time": expire, "explicit_max_ttl": explicitMax,
		"id": t.id, "issue_time": rfc3339(t.issued), "meta": nil, "num_uses": 0, "orphan": true,
		"path": t.path, "policies": t.policies, "renewable": t.renewable, "ttl": ttl, "type": t.kind(),
	}, nil, nil))
}

// renewSelf answers POST /v1/auth/token/renew-self {"increment": N}
// (https://developer.hashicorp.com/vault/api-docs/auth/token#renew-a-token-self):
// the token's TTL becomes the increment (default its creation TTL), capped
// at its max TTL with Vault's warning; a token that is not renewable gets
// 400 "lease is not renewable".
func (s *Server) renewSelf(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	var body struct {
		Increment any `json:"increment"`
	}
	inc, err := time.Duration(0), decodeBody(r, &body)
	if err == nil {
		inc, err = parseIncrement(body.Increment)
	}
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "invalid increment")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.liveLocked(id)
	switch {
	case t == nil:
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	case t.batch:
		writeErrors(w, http.StatusBadRequest, "batch tokens cannot be renewed")
		return
	case !t.renewable || s.refuseRenewals || t.expires.IsZero():
		writeErrors(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	if inc <= 0 {
		inc = t.ttl
	}
	now := s.now()
	next, limit := now.Add(inc), t.issued.Add(t.maxTTL)
	var warnings []string
	if next.After(limit) {
		next = limit
		warnings = []string{fmt.Sprintf("TTL of %q exceeded the effective max_ttl of %q; TTL value is capped accordingly",
			inc.String(), limit.Sub(now).Truncate(time.Second).String())}
	}
	t.expires = next
	s.counts.Renewals++
	writeJSON(w, http.StatusOK, envelope(nil, authObject(t, next.Sub(now), nil), warnings))
}

// revokeSelf answers POST /v1/auth/token/revoke-self
// (https://developer.hashicorp.com/vault/api-docs/auth/token#revoke-a-token-self):
// the token making the call is revoked, with its children (this server
// issues none), and every later request with it is "permission denied".
// The documented answer is 204 with no body; a batch token, which cannot
// be revoked, is answered 400 "batch tokens cannot be revoked", as Vault's
// token store does.
func (s *Server) revokeSelf(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.liveLocked(id)
	switch {
	case t == nil: // revoked or expired since authenticate
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	case t.batch:
		writeErrors(w, http.StatusBadRequest, "batch tokens cannot be revoked")
		return
	}
	delete(s.tokens, id)
	s.selfRevoked = append(s.selfRevoked, id)
	s.counts.Revocations++
	w.WriteHeader(http.StatusNoContent)
}

// parseIncrement reads an increment as Vault does: seconds, as a number
// or a string, or a Go duration string ("1h").
func parseIncrement(v any) (time.Duration, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		n, err := v.Int64()
		return time.Duration(n) * time.Second, err
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Duration(n) * time.Second, nil
		}
		return time.ParseDuration(v)
	}
	return 0, fmt.Errorf("increment of type %T", v)
}
