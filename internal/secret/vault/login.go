package vault

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/intelgate/intelgate/internal/regfile"
)

// maxJWTFile bounds the service account token file: a JWT is a few KiB.
const maxJWTFile = 64 << 10

// approleLogin logs in at auth/MOUNT/login with the role and secret IDs
// (https://developer.hashicorp.com/vault/api-docs/auth/approle#login-with-approle).
func approleLogin(a Auth, lc *api.Client) (func(context.Context) (*api.Secret, error), error) {
	m, err := approle.NewAppRoleAuth(a.RoleID.Reveal(), &approle.SecretID{FromString: a.SecretID.Reveal()},
		approle.WithMountPath(a.Mount))
	if err != nil {
		return nil, fmt.Errorf("vault: approle: %w", err) // names what is missing, never a value
	}
	return func(ctx context.Context) (*api.Secret, error) {
		sec, err := m.Login(ctx, lc)
		return checkLogin(sec, err, a, "check role_id and secret_id")
	}, nil
}

// kubernetesLogin logs in at auth/MOUNT/login with the role and the pod's
// service account JWT
// (https://developer.hashicorp.com/vault/api-docs/auth/kubernetes#login).
// The api's KubernetesAuth reads its token file once, when it is built;
// kubelet rotates projected tokens, so one is built, from a fresh read of
// the file, at every login.
func kubernetesLogin(a Auth, lc *api.Client) func(context.Context) (*api.Secret, error) {
	return func(ctx context.Context) (*api.Secret, error) {
		jwt, err := readJWT(a.JWTFile)
		if err != nil {
			return nil, err
		}
		m, err := kubernetes.NewKubernetesAuth(a.Role, kubernetes.WithServiceAccountToken(jwt),
			kubernetes.WithMountPath(a.Mount))
		if err != nil {
			return nil, fmt.Errorf("vault: kubernetes: %w", err)
		}
		sec, err := m.Login(ctx, lc)
		return checkLogin(sec, err, a, "check the role and that it is bound to this service account")
	}
}

func readJWT(path string) (string, error) {
	b, _, err := regfile.Read(path, maxJWTFile)
	if err != nil {
		return "", fmt.Errorf("vault: reading the service account token: %w", err)
	}
	jwt := strings.TrimSpace(string(b))
	if jwt == "" {
		return "", fmt.Errorf("vault: the service account token file %s is empty", path)
	}
	return jwt, nil
}

// checkLogin turns a login's outcome into a token or an error that names
// the method and mount, never the credential or what Vault answered.
func checkLogin(sec *api.Secret, err error, a Auth, hint string) (*api.Secret, error) {
	if err != nil {
		err = describe(err)
		switch statusCode(err) {
		case http.StatusBadRequest, http.StatusForbidden:
			return nil, fmt.Errorf("vault: %s login at auth/%s failed: %w; %s", a.Method, a.Mount, err, hint)
		}
		return nil, fmt.Errorf("vault: %s login at auth/%s failed: %w", a.Method, a.Mount, err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, fmt.Errorf("vault: %s login at auth/%s answered without a token", a.Method, a.Mount)
	}
	return sec, nil
}
