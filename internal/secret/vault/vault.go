// Package vault is the secret.Source for vault:MOUNT/PATH#FIELD
// references: fields of HashiCorp Vault KV version 2 secrets, read over
// github.com/hashicorp/vault/api with a token the gateway is given (method
// token) or gets by logging in (approle, kubernetes), and kept alive by Run
// with the api's LifetimeWatcher.
//
// The configuration is the only truth. The api package reads VAULT_ADDR,
// VAULT_TOKEN, VAULT_NAMESPACE, VAULT_SKIP_VERIFY, VAULT_CACERT,
// VAULT_HEADERS, VAULT_WRAP_TTL, VAULT_MAX_RETRIES, VAULT_AGENT_ADDR and
// more when it builds a client. New builds the transport itself and
// overwrites whatever the library took from the environment, so an
// inherited variable can neither send the gateway's token elsewhere, swap
// its identity, switch certificate verification off, nor wrap its answers.
// The files some of them name are read all the same: see checkEnvFiles.
//
// A token the gateway got by logging in is its own: Run revokes it when a
// new login replaces it and when Run ends, and Close revokes it when Run
// never ran, so no token outlives its use — within a bound at shutdown,
// which an unreachable Vault cannot stretch (see shutdownBound). The token
// of method token is the operator's, and is never revoked.
//
// No error of this package holds a secret value, a token, a credential or
// anything Vault sent: errors name the reference (its MOUNT/PATH and
// FIELD), the HTTP status, and what it usually means.
package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/intelgate/intelgate/internal/secret"
)

// Defaults of Options.
const (
	DefaultTimeout = 10 * time.Second
	DefaultJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// Options say how to reach and log in to Vault.
type Options struct {
	Address   string        // https://host:port; anything but https:// is refused
	Namespace string        // sent as X-Vault-Namespace when set (Vault Enterprise, HCP)
	CAFile    string        // PEM roots the server's certificate chains to; "" = system roots
	Timeout   time.Duration // per request; default DefaultTimeout
	Auth      Auth
	Log       *slog.Logger // nil: discard
	// OnEvent, when set, is called for every login and renewal outcome,
	// from New and from Run's goroutine, one at a time: alerts hang here.
	// It must return promptly.
	OnEvent func(Event)

	// now is the Source's clock for token lifetimes (nil: time.Now); tests
	// set it to put time between New and Run.
	now func() time.Time
}

// Auth is how the gateway gets its Vault token.
type Auth struct {
	Method   string       // "token" | "approle" | "kubernetes"
	Token    secret.Value // token
	RoleID   secret.Value // approle
	SecretID secret.Value // approle
	Role     string       // kubernetes
	// JWTFile is the kubernetes service account token file, re-read at
	// every login: kubelet rotates projected tokens. Default DefaultJWTFile.
	JWTFile string
	// Mount is where the auth method is mounted; default "approle" or
	// "kubernetes".
	Mount string
}

// Source reads vault: references. It is safe for concurrent use.
type Source struct {
	o     Options
	log   *slog.Logger
	tr    *http.Transport // shared by every client below: one pool
	login func(context.Context) (*api.Secret, error)
	// client reads secrets and looks the token up; it holds the current
	// token, which a login replaces.
	client *api.Client
	// nudge is poked (never blocking) by a read that Vault refused 403, so
	// that Run checks at once whether the token is still alive.
	nudge chan struct{}
	ran   atomic.Bool
	// first is what Run watches first: the login of New, or the secret
	// built from New's lookup-self; its lease counts from firstAt, when
	// the request that got it was sent (Vault cannot have issued it, or
	// counted its TTL, any earlier). Written before New returns.
	first   *api.Secret
	firstAt time.Time
	now     func() time.Time // Options.now: the clock of token lifetimes
	// minTokenLife is how long a login's token must last for a re-login
	// to follow at once (below it, the re-login backs off: see
	// keepLoggedIn).
	minTokenLife time.Duration
	// retryBase, retryCap and jitter (uniform in [0, 1)) shape the
	// back-off of logins, lookups and renewals that fail; tests set them.
	retryBase, retryCap time.Duration
	jitter              func() float64

	// revoker revokes login tokens the Source is done with (see revoke);
	// nil with method token. revokeMu serialises its use.
	revoker  *api.Client
	revokeMu sync.Mutex
	// shutdown ends (endShutdown, errShutdownBound) shutdownBound after
	// shutdown began, and every revocation with it; shutdownOnce starts
	// that clock (see beginShutdown). shutdownCap is maxShutdownRevoke;
	// tests lower it.
	shutdown     context.Context
	endShutdown  context.CancelCauseFunc
	shutdownOnce sync.Once
	shutdownCap  time.Duration
	// batchNoted: a batch token was not revoked, and that was said once.
	batchNoted atomic.Bool
	// tokenMu orders the swap of client's token with closed: once closed,
	// no new token is installed (see install and retire).
	tokenMu sync.Mutex
	closed  bool

	mu     sync.Mutex
	status Status
}

var _ secret.Source = (*Source)(nil)

// New builds the client and proves the credential: it logs in (approle,
// kubernetes) or looks the token up (token), so that a wrong credential,
// namespace, address or CA fails start-up with an error that says which.
func New(ctx context.Context, o Options) (*Source, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	caPEM, err := readCA(o)
	if err != nil {
		return nil, err
	}
	s := &Source{
		o: o, log: o.Log, tr: newHTTPTransport(o), nudge: make(chan struct{}, 1), now: o.now,
		retryBase: time.Second, retryCap: 2 * time.Minute, jitter: rand.Float64, minTokenLife: 10 * time.Second,
		shutdownCap: maxShutdownRevoke,
	}
	s.shutdown, s.endShutdown = context.WithCancelCause(context.Background())
	if err := configureTLS(o, s.tr, caPEM); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.tr.CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

func (s *Source) start(ctx context.Context) error {
	var err error
	if s.client, err = s.newClient(nil); err != nil {
		return err
	}
	if s.o.Auth.Method == "token" {
		return s.checkToken(ctx)
	}
	// Logins go through a client that never holds a token: a login
	// endpoint needs none, and an expired one has no business there.
	lc, err := s.newClient(nil)
	if err != nil {
		return err
	}
	if s.o.Auth.Method == "approle" {
		s.login, err = approleLogin(s.o.Auth, lc)
	} else {
		s.login = kubernetesLogin(s.o.Auth, lc)
	}
	if err != nil {
		return err
	}
	if s.revoker, err = s.newClient(nil); err != nil {
		return err
	}
	at := s.now()
	sec, err := s.login(ctx)
	if err != nil {
		return err
	}
	s.first, s.firstAt = sec, at
	s.install(sec)
	s.loggedIn(sec, at)
	return nil
}

// newClient is an api client over the shared transport (bound: see
// newConfig) with everything NewClient took from the environment replaced
// by the config.
func (s *Source) newClient(bound context.Context) (*api.Client, error) {
	if err := checkEnvFiles(); err != nil {
		return nil, err
	}
	c, err := api.NewClient(newConfig(s.o, s.tr, bound))
	if err != nil {
		// NewClient fails only when api.DefaultConfig cannot parse a
		// VAULT_* variable, or load a file one names (it reads them even
		// though we use none; checkEnvFiles has refused, by name, the
		// files it would fail on or could not read promptly and
		// harmlessly). Its error may quote the variable's value (a proxy
		// URL with a password), so name the variables, not what they hold.
		return nil, fmt.Errorf("vault: building the client: the Vault api package refused the process environment (set here: %s); intelgate uses none of these variables: unset the malformed one", vaultVarsSet())
	}
	c.SetHeaders(http.Header{api.RequestHeaderName: {"true"}}) // drops VAULT_HEADERS, VAULT_NAMESPACE
	if s.o.Namespace != "" {
		c.SetNamespace(s.o.Namespace)
	}
	c.ClearToken()                                                     // drops VAULT_TOKEN
	c.SetWrappingLookupFunc(func(string, string) string { return "" }) // ignores VAULT_WRAP_TTL
	return c, nil
}

// checkToken looks the configured token up: it must be alive, and what
// Vault says of it (TTL, renewable) is what Run watches.
func (s *Source) checkToken(ctx context.Context) error {
	tok := s.o.Auth.Token.Reveal()
	s.client.SetToken(tok)
	at := s.now()
	look, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		err = describe(err)
		hint := ""
		if statusCode(err) == http.StatusForbidden {
			hint = "; check the token and the namespace"
		}
		return fmt.Errorf("vault: checking the token (auth/token/lookup-self) failed: %w%s", err, hint)
	}
	sec, expires, err := watchInput(tok, look, at)
	if err != nil {
		return err
	}
	s.first, s.firstAt = sec, at
	st := Status{TokenExpires: expires, Renewable: sec.Auth.Renewable}
	if !st.Renewable && !st.TokenExpires.IsZero() {
		st.Err = fmt.Errorf("%w: it is not renewable, and serves until %s", ErrNotRenewable, st.TokenExpires.UTC().Format(time.RFC3339))
	}
	s.setStatus(st)
	s.log.Info("vault: token checked", "method", "token", "token_expires", st.TokenExpires, "renewable", st.Renewable)
	if st.Err != nil {
		s.emit(Event{Kind: RenewFailed, Err: st.Err, TokenExpires: st.TokenExpires})
	}
	return nil
}

// watchInput is the LifetimeWatcher's input for token tok, built from what
// lookup-self said about it, asked at now, and when the token expires
// (zero: never). lookup-self's ttl is whole seconds, truncated: a token
// with less than a second left says 0, as a token that never expires does,
// and only its expire_time tells them apart.
func watchInput(tok string, look *api.Secret, now time.Time) (*api.Secret, time.Time, error) {
	if look == nil || look.Data == nil {
		return nil, time.Time{}, errors.New("vault: lookup-self answered without the token's data")
	}
	ttl, err := look.TokenTTL()
	if err != nil {
		return nil, time.Time{}, errors.New("vault: lookup-self answered a ttl that is not a duration")
	}
	renewable, err := look.TokenIsRenewable()
	if err != nil {
		return nil, time.Time{}, errors.New("vault: lookup-self answered a renewable that is not a boolean")
	}
	var expires time.Time
	switch {
	case ttl > 0:
		expires = now.Add(ttl) // our clock, not Vault's expire_time: no skew
	case look.Data["expire_time"] != nil:
		expires = now // it does expire, now
	}
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken: tok, LeaseDuration: int(ttl / time.Second), Renewable: renewable,
	}}, expires, nil
}

// expiry is when a token with lease seconds left at now expires; zero for
// a token that does not expire (lease 0).
func expiry(now time.Time, lease int) time.Time {
	if lease <= 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(lease) * time.Second)
}

func (o Options) withDefaults() (Options, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0:
		return o, errors.New("vault: timeout must be greater than 0")
	}
	u, err := url.Parse(o.Address)
	switch {
	// The address is not quoted back: a URL can carry a password.
	case err != nil || u.Host == "":
		return o, errors.New("vault: address must be an https:// URL with a host")
	case u.Scheme != "https":
		return o, errors.New("vault: address must be https://: the token and the secrets would cross the network in clear")
	case u.User != nil:
		return o, errors.New("vault: address must not carry a user or password")
	case u.RawQuery != "" || u.Fragment != "":
		return o, errors.New("vault: address must not have a query or a fragment")
	}
	if strings.ContainsFunc(o.Namespace, isControl) {
		return o, errors.New("vault: namespace must be printable")
	}
	a := &o.Auth
	switch a.Method {
	case "token":
		if a.Token.IsZero() {
			return o, errors.New("vault: auth method token needs a token")
		}
		return o, nil
	case "approle":
		if a.RoleID.IsZero() || a.SecretID.IsZero() {
			return o, errors.New("vault: auth method approle needs a role_id and a secret_id")
		}
		a.Mount = cmp.Or(a.Mount, "approle")
	case "kubernetes":
		if a.Role == "" {
			return o, errors.New("vault: auth method kubernetes needs a role")
		}
		a.JWTFile = cmp.Or(a.JWTFile, DefaultJWTFile)
		a.Mount = cmp.Or(a.Mount, "kubernetes")
	case "":
		return o, errors.New("vault: an auth method is required: token, approle or kubernetes")
	default:
		return o, fmt.Errorf("vault: auth method must be token, approle or kubernetes, not %q", a.Method)
	}
	for _, seg := range strings.Split(a.Mount, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "?#%") || strings.ContainsFunc(seg, isControl) {
			return o, errors.New("vault: auth mount must be a path of printable segments, without . or .. or ?#%")
		}
	}
	return o, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
