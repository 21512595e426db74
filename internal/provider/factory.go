package provider

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/upstream"
)

// Provider kinds, as written in config.
const (
	KindSocialEye = "socialeye"
	KindHTTP      = "http"
)

// New builds the provider named name from its config, with its own
// *upstream.Client so TLS policy, pins, timeouts and the size cap are per
// provider. It fails on anything it cannot honour exactly: a provider that
// starts half-configured would send keys somewhere nobody reviewed.
//
// It also returns the transport, which the caller owns: closing its idle
// connections at shutdown is the caller's job.
func New(name string, cfg *config.Provider) (Provider, *upstream.Client, error) {
	if cfg == nil {
		return nil, nil, fmt.Errorf("building provider %q: no configuration", name)
	}
	client, err := upstream.New(ClientOptions(cfg))
	if err != nil {
		return nil, nil, fmt.Errorf("building provider %q: upstream client: %w", name, err)
	}
	p, err := NewWithDoer(name, cfg, client)
	if err != nil {
		return nil, nil, err
	}
	return p, client, nil
}

// NewWithDoer is New with the transport supplied, for tests and for callers
// that wrap the transport (metrics, fault injection).
func NewWithDoer(name string, cfg *config.Provider, doer Doer) (Provider, error) {
	if cfg == nil {
		return nil, fmt.Errorf("building provider %q: no configuration", name)
	}
	if doer == nil {
		return nil, fmt.Errorf("building provider %q: no upstream transport", name)
	}
	schema, err := providerSchema(cfg)
	if err != nil {
		return nil, fmt.Errorf("building provider %q: %w", name, err)
	}
	var p Provider
	switch cfg.Kind {
	case KindSocialEye:
		p, err = newSocialEye(name, cfg, doer, schema)
	case KindHTTP:
		p, err = newHTTP(name, cfg, doer, schema)
	default:
		err = fmt.Errorf("kind: %q is not one of %s, %s", cfg.Kind, KindSocialEye, KindHTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("building provider %q: %w", name, err)
	}
	return p, nil
}

// ClientOptions maps a provider's config onto transport options. Zero values
// stay zero so upstream applies its own defaults (TLS 1.2, 30s, 5 MiB) in
// one place.
func ClientOptions(cfg *config.Provider) upstream.Options {
	return upstream.Options{
		MinVersion:       uint16(cfg.TLS.MinVersion), // TLSVersion holds the crypto/tls constant
		CAFile:           cfg.TLS.CAFile,
		Pins:             cfg.TLS.Pins,
		Timeout:          cfg.Timeout.Std(),
		MaxResponseBytes: int64(cfg.MaxResponseBytes),
		MaxConnections:   cfg.MaxConnections,
	}
}

// compileSchema loads the optional response schema. Only local files are
// read: the compiler's default loader has no network access, so a remote
// $ref cannot make startup depend on a third-party host.
func compileSchema(path string) (*jsonschema.Schema, error) {
	if path == "" {
		return nil, nil
	}
	loader, err := schemaLoader(path)
	if err != nil {
		return nil, fmt.Errorf("schema_file %q: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(loader)
	schema, err := c.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("schema_file %q: %w", path, err)
	}
	return schema, nil
}

// providerSchema is the provider's own schema_file, or else its preset's
// embedded schema, or nil.
func providerSchema(cfg *config.Provider) (*jsonschema.Schema, error) {
	if cfg.SchemaFile != "" || cfg.PresetSchema == nil {
		return compileSchema(cfg.SchemaFile)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(cfg.PresetSchema))
	if err != nil {
		return nil, fmt.Errorf("preset schema %s: not valid JSON", cfg.PresetSchemaName)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// No loader: an embedded schema refers to nothing outside itself.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	url := "preset:///" + cfg.PresetSchemaName
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("preset schema %s: %w", cfg.PresetSchemaName, err)
	}
	schema, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("preset schema %s: %w", cfg.PresetSchemaName, err)
	}
	return schema, nil
}

// errNoKey is returned when Lookup gets no key: every kind sends one, and
// an unauthenticated call would only earn a 401 and a security alert.
var errNoKey = errors.New("no upstream key for this environment")

// CompileSchema compiles a schema_file the way New does, so configuration
// checks can report a broken schema against its field before start-up.
func CompileSchema(path string) error {
	_, err := compileSchema(path)
	return err
}
