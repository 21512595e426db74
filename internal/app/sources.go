package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/awssm"
	"github.com/intelgate/intelgate/internal/secret/vault"
)

// vaultAuthField is the field the alert engine and readiness name for the
// gateway's own Vault credentials.
const vaultAuthField = "secrets.vault.auth"

// openSources are the secret sources of cfg: env: and file:, and the
// remote sources its secrets section configures (a vault: or awssm:
// reference without its section fails to resolve, naming the section).
// given, when set (tests), is used as it is. The Vault source logs in
// here; App.Run keeps its token alive.
func (a *App) openSources(ctx context.Context, cfg *config.Config, given secret.Sources) (secret.Sources, error) {
	if !given.IsZero() {
		return given, nil
	}
	src := secret.DefaultSources()
	if c := cfg.Secrets.Vault; c != nil {
		v, err := a.openVault(ctx, c)
		if err != nil {
			return secret.Sources{}, fmt.Errorf("secrets.vault: %w", err)
		}
		a.vault = v
		// Close revokes the login token: a start-up that fails later, or
		// a one-off resolve (config validate), leaves no live token
		// behind. After Run it does nothing more.
		a.closers = append(a.closers, v)
		src = src.With("vault", v)
	}
	if c := cfg.Secrets.AWS; c != nil {
		sm, err := awssm.New(ctx, awssm.Options{Region: c.Region, VersionStage: c.VersionStage, Endpoint: c.Endpoint,
			CAFile: c.CAFile, Timeout: c.Timeout.Std(), Log: a.log})
		if err != nil {
			return secret.Sources{}, fmt.Errorf("secrets.aws: %w", err)
		}
		src = src.With("awssm", sm)
	}
	return src, nil
}

// openVault resolves the gateway's own Vault credentials (env: or file:
// only: validated) and logs in.
func (a *App) openVault(ctx context.Context, c *config.Vault) (*vault.Source, error) {
	boot := secret.DefaultSources()
	get := func(field string, r secret.Ref) (secret.Value, error) {
		if r.IsZero() {
			return secret.Value{}, nil
		}
		v, err := boot.Resolve(ctx, r)
		if err != nil {
			return secret.Value{}, fmt.Errorf("auth.%s: %s: %w", field, r, err)
		}
		return v, nil
	}
	var errs []error
	token, err := get("token", c.Auth.Token)
	errs = append(errs, err)
	roleID, err := get("role_id", c.Auth.RoleID)
	errs = append(errs, err)
	secretID, err := get("secret_id", c.Auth.SecretID)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return vault.New(ctx, vault.Options{Address: c.Address, Namespace: c.Namespace, CAFile: c.CAFile,
		Timeout: c.Timeout.Std(), Log: a.log, OnEvent: a.vaultEvent,
		Auth: vault.Auth{Method: c.Auth.Method, Token: token, RoleID: roleID, SecretID: secretID, Role: c.Auth.Role,
			JWTFile: c.Auth.ServiceAccountTokenFile, Mount: c.Auth.Mount}})
}

// vaultEvent reports the Vault token's life to the log and the alert
// engine: a failed login or renewal raises the secret_source alert (the
// last good secrets stay in use), a success clears it.
func (a *App) vaultEvent(e vault.Event) {
	switch e.Kind {
	case vault.LoggedIn, vault.Renewed:
		if a.alerts != nil {
			a.alerts.SecretRecovered(vaultAuthField)
		}
	case vault.LoginFailed, vault.RenewFailed, vault.TokenExpired:
		a.log.Warn("Vault token problem; the last good secrets stay in use", "event", e.Kind.String(),
			"token_expires", e.TokenExpires.UTC().Format(time.RFC3339), "error", errString(e.Err))
		if a.alerts != nil {
			a.alerts.SecretFailed(vaultAuthField, "vault:", e.Err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// vaultReady is /readyz's "vault" dependency: unready once the token has
// expired (no secret can be refreshed from Vault any more, and a key
// rotated there would never be picked up). A failed renewal alone only
// alerts: the token still serves until it expires.
type vaultReady struct{ v *vault.Source }

func (r vaultReady) Ping(context.Context) error {
	st := r.v.Status()
	if st.Expired || errors.Is(st.Err, vault.ErrTokenExpired) {
		return vault.ErrTokenExpired
	}
	return nil
}

// vaultRenewing is /readyz's degradable "vault_token" dependency: a
// login or renewal failure the token has not (yet) died of.
type vaultRenewing struct{ v *vault.Source }

func (r vaultRenewing) Ping(context.Context) error { return r.v.Status().Err }

// ResolveSecrets resolves every secret of cfg with the sources the gateway
// would use (env:, file:, and Vault and AWS Secrets Manager as cfg's
// secrets section configures them): what config validate checks.
func ResolveSecrets(ctx context.Context, cfg *config.Config, log *slog.Logger) (*config.Secrets, error) {
	a := &App{cfg: cfg, log: log}
	defer a.Close()
	sources, err := a.openSources(ctx, cfg, secret.Sources{})
	if err != nil {
		return &config.Secrets{}, err
	}
	return cfg.ResolveSecretsWith(ctx, sources)
}
