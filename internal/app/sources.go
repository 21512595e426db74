package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/awssm"
)

// openSources are the secret sources of cfg: env: and file:, and the
// remote sources its secrets section configures (a vault: or awssm:
// reference without its section fails to resolve, naming the section).
// given, when set (tests), is used as it is.
func (a *App) openSources(ctx context.Context, cfg *config.Config, given secret.Sources) (secret.Sources, error) {
	if !given.IsZero() {
		return given, nil
	}
	src := secret.DefaultSources()
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
