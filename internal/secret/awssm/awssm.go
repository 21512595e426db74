// Package awssm resolves awssm:SECRET_ID#FIELD references from AWS Secrets
// Manager: SECRET_ID is a secret's name or ARN, its SecretString a JSON
// object, FIELD one of its string members.
//
// Each Fetch reads each secret once (GetSecretValue with the configured
// VersionStage), so every field of a batch comes from one version. A
// Secret's Version is the VersionId read and its ChangedAt that version's
// CreatedDate: when this value was written. That, not DescribeSecret's
// LastChangedDate, is the key's age — LastChangedDate also moves when
// someone edits a tag, the description or the rotation settings, which
// would make an old key look freshly rotated.
//
// The client is the AWS SDK for Go v2, unmodified: its default credential
// chain (environment, shared config and credentials files, web identity,
// ECS and EC2 roles), SigV4 signing, standard retryer and clock-skew
// correction. The package adds what a gateway holding vendor keys needs on
// top: https only, TLS 1.2 or later against the system roots or a CA file,
// a per-secret time limit, few retries, and errors and logs that name the
// reference and the AWS error code but never a value, the SecretString
// or a credential.
package awssm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/logging"

	"github.com/intelgate/intelgate/internal/regfile"
	"github.com/intelgate/intelgate/internal/secret"
)

// Defaults.
const (
	DefaultVersionStage = "AWSCURRENT"
	DefaultTimeout      = 10 * time.Second
	// MaxAttempts is how often one GetSecretValue is tried. A refresh
	// that fails keeps the last good value and runs again at the next
	// interval, so a long retry loop buys nothing and delays the alert.
	MaxAttempts = 3
	// parallel bounds the GetSecretValue calls of one Fetch in flight.
	parallel = 4
	// maxCAFile bounds a CA bundle: the system's is about 200 KiB.
	maxCAFile = 1 << 20
)

// Options configure a Source. The zero value reads AWSCURRENT from the
// regional endpoint with the SDK's default region and credentials.
type Options struct {
	// Region; "" takes the SDK's default chain (AWS_REGION,
	// AWS_DEFAULT_REGION, the shared config's region). None at all is an
	// error: the gateway never guesses where its keys live.
	Region string
	// VersionStage is the staging label read (default AWSCURRENT). Pin
	// AWSPENDING or a custom label to try a rotation before it goes
	// live, AWSPREVIOUS to roll back.
	VersionStage string
	// Endpoint replaces the regional endpoint (a VPC interface endpoint,
	// a FIPS endpoint, a test server); it must be https://. An endpoint
	// from the environment or shared config (AWS_ENDPOINT_URL…) must be
	// too.
	Endpoint string
	// CAFile is a PEM bundle the endpoint's certificate must chain to,
	// instead of the system roots (AWS_CA_BUNDLE, if set, is added).
	CAFile string
	// Timeout bounds each GetSecretValue, retries included (default 10s).
	Timeout time.Duration
	// Credentials; nil takes the SDK's default credential chain.
	Credentials aws.CredentialsProvider
	// Log receives one line per secret read or failed; nil discards.
	Log *slog.Logger
}

// Source fetches awssm: references. It is safe for concurrent use: the
// SDK client is, and Source holds nothing else that changes.
type Source struct {
	client  *secretsmanager.Client
	stage   string
	timeout time.Duration
	log     *slog.Logger
}

var _ secret.Source = (*Source)(nil)

// New builds a Source. It reads the SDK's configuration (environment,
// shared files) and the CA file but sends no request: credentials are
// resolved, and may fail, at the first Fetch, which names the cause.
func New(ctx context.Context, o Options) (*Source, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(o.CAFile)
	if err != nil {
		return nil, err
	}
	load := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		// The SDK logs nothing unless told to; make sure nothing in the
		// environment tells it to log requests or bodies.
		config.WithLogger(logging.Nop{}),
		config.WithClientLogMode(0),
	}
	if o.Region != "" {
		load = append(load, config.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("secrets.aws.region: no AWS region is configured; " +
			"set secrets.aws.region, AWS_REGION or AWS_DEFAULT_REGION, or a region in the shared config file")
	}
	client := secretsmanager.NewFromConfig(cfg, func(so *secretsmanager.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.Retryer = retry.NewStandard(func(ro *retry.StandardOptions) {
			ro.MaxAttempts = MaxAttempts
			ro.MaxBackoff = 2 * time.Second
			// First, so it wins: the SDK retries every failed send.
			ro.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(tlsFault)}, ro.Retryables...)
		})
		so.RetryMaxAttempts = 0 // AWS_MAX_ATTEMPTS must not lift the bound
		so.Logger = logging.Nop{}
		so.ClientLogMode = 0
	})
	if ep := client.Options().BaseEndpoint; ep != nil {
		if err := checkEndpoint(*ep); err != nil {
			return nil, fmt.Errorf("the endpoint from the AWS configuration (AWS_ENDPOINT_URL…): %w", err)
		}
	}
	return &Source{client: client, stage: o.VersionStage, timeout: o.Timeout, log: o.Log}, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.VersionStage == "" {
		o.VersionStage = DefaultVersionStage
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.Timeout < 0:
		return o, fmt.Errorf("secrets.aws.timeout must be positive, not %s", o.Timeout)
	case len(o.VersionStage) > 256 || strings.IndexFunc(o.VersionStage, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return o, errors.New("secrets.aws.version_stage must be 1 to 256 printable characters without spaces")
	}
	if o.Endpoint != "" {
		if err := checkEndpoint(o.Endpoint); err != nil {
			return o, fmt.Errorf("secrets.aws.endpoint: %w", err)
		}
	}
	return o, nil
}

// tlsFault marks TLS failures as not worth retrying: an untrusted or
// expired certificate, a wrong host name, a protocol version or a plain
// HTTP server on an https endpoint is configuration, and the next
// attempt meets the same one.
func tlsFault(err error) aws.Ternary {
	var (
		verify *tls.CertificateVerificationError
		record tls.RecordHeaderError
		host   x509.HostnameError
		op     *net.OpError
	)
	if errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &host) {
		return aws.FalseTernary
	}
	// A TLS alert over TCP comes as a *net.OpError "remote error" (the
	// peer's alert) or "local error" (ours) around an unexported type.
	if errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error") {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// checkEndpoint refuses anything but an https:// URL with a host: the
// SigV4 signature protects a request's integrity, not its secrecy, and
// the answer is the secret.
func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("must be an https:// URL")
	case u.Scheme != "https":
		return fmt.Errorf("must be an https:// URL, not %s://: the response carries the secret", u.Scheme)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must be an https:// URL with a host and no credentials, query or fragment")
	}
	return nil
}

// httpClient is the SDK's buildable client (its timeouts and pooling)
// with TLS 1.2 or later and, with a CA file, exactly those roots. The
// SDK's config may still add AWS_CA_BUNDLE to them.
func httpClient(caFile string) (*awshttp.BuildableClient, error) {
	var roots *x509.CertPool
	if caFile != "" {
		// regfile: a FIFO or device named here must not hang startup.
		b, _, err := regfile.Read(caFile, maxCAFile)
		if err != nil {
			return nil, fmt.Errorf("secrets.aws.ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("secrets.aws.ca_file: %s holds no PEM certificate", caFile)
		}
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		// Amend the SDK's TLS settings (its FIPS curve preferences) rather
		// than replace them; full verification is Go's default and stays.
		c := &tls.Config{}
		if tr.TLSClientConfig != nil {
			c = tr.TLSClientConfig.Clone()
		}
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
		if roots != nil {
			c.RootCAs = roots
		}
		tr.TLSClientConfig = c
	}), nil
}

// Fetch reads each distinct secret of refs once, up to four at a time, and
// answers every ref from its secret's document, in order.
func (s *Source) Fetch(ctx context.Context, refs []secret.Ref) []secret.Result {
	out := make([]secret.Result, len(refs))
	if err := ctx.Err(); err != nil {
		for i, ref := range refs {
			out[i].Err = fmt.Errorf("%s: %w", ref, err)
		}
		return out
	}
	var ids []string
	byID := map[string][]int{}
	for i, ref := range refs {
		if ref.Scheme != "awssm" {
			out[i].Err = fmt.Errorf("%s: not an awssm: reference", ref)
			continue
		}
		if _, ok := byID[ref.Path]; !ok {
			ids = append(ids, ref.Path)
		}
		byID[ref.Path] = append(byID[ref.Path], i)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			doc, err := s.read(ctx, id)
			for _, i := range byID[id] { // each ref's index is written by one goroutine only
				out[i] = doc.result(refs[i], err)
			}
		})
	}
	wg.Wait()
	return out
}

// read runs one GetSecretValue and parses the document.
func (s *Source) read(ctx context.Context, id string) (document, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(id), VersionStage: aws.String(s.stage),
	})
	if err != nil {
		err = callError(ctx, "GetSecretValue", id, s.timeout, err)
		s.log.Warn("awssm: reading a secret failed", "secret_id", id, "version_stage", s.stage, "err", err)
		return document{}, err
	}
	doc, err := parse(out, s.stage)
	if err != nil {
		s.log.Warn("awssm: the secret is unusable", "secret_id", id, "version_id", doc.version, "err", err)
		return doc, err
	}
	s.log.Debug("awssm: read a secret", "secret_id", id, "version_id", doc.version,
		"version_stage", s.stage, "created", doc.created, "fields", len(doc.fields))
	return doc, nil
}
