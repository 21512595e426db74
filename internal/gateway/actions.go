package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/intelgate/intelgate/internal/config"
)

// Operator is what the admin API's actions need of the running gateway:
// reload the config and secrets, take a key out of rotation, turn a client
// away, and describe the keys. Defined here, where it is consumed;
// internal/app implements it.
type Operator interface {
	Reload(ctx context.Context, by string) (any, error)
	RevokeKey(ctx context.Context, provider, keyID, by string) error
	DisableClient(ctx context.Context, name, by string) error
	EnableClient(ctx context.Context, name, by string) error
	Keys(ctx context.Context) any
}

// Errors an Operator returns that the admin API answers by name.
var (
	// ErrUnknownKey / ErrUnknownClient: 404.
	ErrUnknownKey    = errors.New("no such key")
	ErrUnknownClient = errors.New("no such client")
	// ErrReloadBusy: 409, try again.
	ErrReloadBusy = errors.New("a reload is already running")
	// ErrRestartRequired: 409, the config changes what only a restart applies.
	ErrRestartRequired = errors.New("restart required")
	// ErrSelfDisable: 400, an admin client may not disable itself (it
	// would lock the operator out until the next reload).
	ErrSelfDisable = errors.New("a client cannot disable itself")
)

// ReloadTimeout bounds POST /admin/v1/reload: reading every secret from
// a slow store must not hold the request for ever.
const reloadTimeout = 2 * time.Minute

func (g *Gateway) adminActions(handle func(pattern string, h http.Handler)) {
	if g.operator == nil {
		return
	}
	admin := func(h http.HandlerFunc) http.Handler { return g.authenticated(g.adminOnly(h)) }
	handle("POST /admin/v1/reload", admin(g.handleReload))
	handle("POST /admin/v1/keys/{provider}/{key_id}/revoke", admin(g.handleRevokeKey))
	handle("POST /admin/v1/clients/{name}/disable", admin(g.handleDisableClient))
	handle("POST /admin/v1/clients/{name}/enable", admin(g.handleEnableClient))
	handle("GET /admin/v1/keys", admin(g.handleKeys))
}

// handleReload is POST /admin/v1/reload: the config file and every secret
// read again and applied whole, or refused whole.
func (g *Gateway) handleReload(w http.ResponseWriter, r *http.Request) {
	if p := decodeJSONBody(r, &struct{}{}); p != nil {
		writeProblem(w, r, p)
		return
	}
	id := identityFrom(r.Context())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), reloadTimeout)
	defer cancel()
	rep, err := g.operator.Reload(ctx, id.Client)
	if err != nil {
		writeProblem(w, r, reloadProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func reloadProblem(err error) *Problem {
	var list config.ErrorList
	switch {
	case errors.Is(err, ErrReloadBusy):
		return newProblem(kindConflict, "a reload is already running; try again when it has finished")
	case errors.Is(err, ErrRestartRequired):
		return newProblem(kindReloadRefused, err.Error())
	case errors.As(err, &list):
		// Config problems name fields and references, never values.
		return newProblem(kindReloadRefused, "the new configuration was refused and the running one kept: "+list.Error())
	}
	return newProblem(kindReloadRefused, "the new configuration was refused and the running one kept: "+err.Error())
}

// handleRevokeKey is POST /admin/v1/keys/{provider}/{key_id}/revoke.
func (g *Gateway) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	if p := decodeJSONBody(r, &struct{}{}); p != nil {
		writeProblem(w, r, p)
		return
	}
	provider, keyID := r.PathValue("provider"), r.PathValue("key_id")
	err := g.operator.RevokeKey(context.WithoutCancel(r.Context()), provider, keyID, identityFrom(r.Context()).Client)
	switch {
	case errors.Is(err, ErrUnknownKey):
		writeProblem(w, r, newProblem(kindNotFound, "no key "+quoteName(keyID)+" of provider "+quoteName(provider)))
	case err != nil:
		writeProblem(w, r, failureProblem(err))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"provider": provider, "key_id": keyID, "revoked": true})
	}
}

// handleDisableClient is POST /admin/v1/clients/{name}/disable.
func (g *Gateway) handleDisableClient(w http.ResponseWriter, r *http.Request) {
	if p := decodeJSONBody(r, &struct{}{}); p != nil {
		writeProblem(w, r, p)
		return
	}
	name := r.PathValue("name")
	err := g.operator.DisableClient(context.WithoutCancel(r.Context()), name, identityFrom(r.Context()).Client)
	switch {
	case errors.Is(err, ErrUnknownClient):
		writeProblem(w, r, newProblem(kindNotFound, "no client "+quoteName(name)))
	case errors.Is(err, ErrSelfDisable):
		writeProblem(w, r, newProblem(kindInvalidParameter, "a client cannot disable itself; disable it from another admin client or remove it from the config"))
	case err != nil:
		writeProblem(w, r, failureProblem(err))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"client": name, "disabled": true})
	}
}

// handleEnableClient is POST /admin/v1/clients/{name}/enable.
func (g *Gateway) handleEnableClient(w http.ResponseWriter, r *http.Request) {
	if p := decodeJSONBody(r, &struct{}{}); p != nil {
		writeProblem(w, r, p)
		return
	}
	name := r.PathValue("name")
	err := g.operator.EnableClient(context.WithoutCancel(r.Context()), name, identityFrom(r.Context()).Client)
	switch {
	case errors.Is(err, ErrUnknownClient):
		writeProblem(w, r, newProblem(kindNotFound, "no client "+quoteName(name)))
	case err != nil:
		writeProblem(w, r, failureProblem(err))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"client": name, "disabled": false})
	}
}

// handleKeys is GET /admin/v1/keys: every upstream key's id,
// environment, fingerprint and age — never its secret.
func (g *Gateway) handleKeys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": g.operator.Keys(r.Context())})
}

// quoteName quotes a name from the path for a problem detail, refusing to
// echo anything that is not a plain name (it may be anything a client
// typed).
func quoteName(s string) string {
	if !config.ValidName(s) {
		return "(invalid name)"
	}
	return `"` + s + `"`
}
