package config

import (
	"time"

	"github.com/intelgate/intelgate/internal/secret"
)

// SecretSettings is the secrets section: how often every secret is read
// again, and the connection settings of the remote sources (vault:,
// awssm:). env: and file: need none.
type SecretSettings struct {
	// Refresh is how often every secret reference is re-read (default
	// 5m); SIGHUP and POST /admin/v1/reload re-read at once.
	Refresh Duration `yaml:"refresh"`
	// Timeout bounds one refresh of every secret (default 30s).
	Timeout Duration `yaml:"timeout"`
	// MaxStale is how long a secret whose source keeps failing is still
	// used (its last good value) before /readyz answers 503 (default 24h).
	// Until then the gateway serves, degraded, and alerts.
	MaxStale Duration `yaml:"max_stale"`
	Vault    *Vault   `yaml:"vault"`
	AWS      *AWS     `yaml:"aws"`
}

// Vault is a HashiCorp Vault server holding KV v2 secrets.
type Vault struct {
	// Address is the server's https:// URL. VAULT_ADDR is not read: the
	// config says where the keys come from.
	Address   string    `yaml:"address"`
	Namespace string    `yaml:"namespace"` // Vault Enterprise / HCP namespace
	CAFile    string    `yaml:"ca_file"`   // PEM bundle the server's certificate chains to; default: system roots
	Timeout   Duration  `yaml:"timeout"`   // per request, default 10s
	Auth      VaultAuth `yaml:"auth"`
}

// VaultAuth is how the gateway logs in to Vault. Its own credentials come
// from env: or file: references: a vault: or awssm: reference here could
// never be resolved.
type VaultAuth struct {
	Method string `yaml:"method"` // token, approle or kubernetes
	// Token is the token of method token (renewed while renewable).
	Token secret.Ref `yaml:"token"`
	// RoleID and SecretID are method approle's credentials.
	RoleID   secret.Ref `yaml:"role_id"`
	SecretID secret.Ref `yaml:"secret_id"`
	// Role is method kubernetes' Vault role; the pod's service account
	// token is read from ServiceAccountTokenFile at every login.
	Role                    string `yaml:"role"`
	ServiceAccountTokenFile string `yaml:"service_account_token_file"`
	// Mount is where the auth method is mounted (default: approle or
	// kubernetes).
	Mount string `yaml:"mount"`
}

// AWS is AWS Secrets Manager. Credentials come from the SDK's default
// chain (environment, shared config and credentials files, web identity,
// ECS and EC2 roles), never from this file.
type AWS struct {
	// Region, else AWS_REGION / AWS_DEFAULT_REGION / the shared config's.
	Region string `yaml:"region"`
	// VersionStage is the staging label read (default AWSCURRENT); pin
	// another (AWSPENDING, a custom label) to stage a rotation.
	VersionStage string `yaml:"version_stage"`
	// Endpoint overrides the regional endpoint (a VPC interface endpoint,
	// FIPS); it must be https://.
	Endpoint string   `yaml:"endpoint"`
	CAFile   string   `yaml:"ca_file"`
	Timeout  Duration `yaml:"timeout"` // per request, default 10s
}

// Rotation is the upstream key rotation policy.
type Rotation struct {
	// Period is the age at which a key must be rotated (default 90d); the
	// key-age rule alerts past it and warns WarnBefore earlier (default
	// 14d). A key's age comes from its source (Vault created_time, the
	// AWS version's creation date) or its rotated_at.
	Period     Duration `yaml:"period"`
	WarnBefore Duration `yaml:"warn_before"`
	// Overlap is how long the replaced value of a rotated key is still
	// used when the new one is refused upstream (default 10m): a vendor
	// that activates the new key a little after the store changed does
	// not strand requests. 0 turns it off.
	Overlap Duration `yaml:"overlap"`
}

// Defaults of the secrets and rotation sections.
const (
	DefaultSecretsRefresh  = Duration(5 * time.Minute)
	DefaultSecretsTimeout  = Duration(30 * time.Second)
	DefaultSecretsMaxStale = Duration(24 * time.Hour)
	DefaultSourceTimeout   = Duration(10 * time.Second)
	DefaultVersionStage    = "AWSCURRENT"
	DefaultRotationPeriod  = Duration(90 * 24 * time.Hour)
	DefaultRotationWarn    = Duration(14 * 24 * time.Hour)
	DefaultRotationOverlap = Duration(10 * time.Minute)
	DefaultK8sTokenFile    = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

func (s *SecretSettings) setDefaults() {
	*s = SecretSettings{Refresh: DefaultSecretsRefresh, Timeout: DefaultSecretsTimeout, MaxStale: DefaultSecretsMaxStale}
}

func (r *Rotation) setDefaults() {
	*r = Rotation{Period: DefaultRotationPeriod, WarnBefore: DefaultRotationWarn, Overlap: DefaultRotationOverlap}
}

func (v *Vault) setDefaults() { *v = Vault{Timeout: DefaultSourceTimeout} }

func (a *AWS) setDefaults() {
	*a = AWS{VersionStage: DefaultVersionStage, Timeout: DefaultSourceTimeout}
}
