package alert

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// FromConfig returns the Options that cfg describes: the rules (with the
// rotation section's period), the configured clients and providers, and
// one SinkSpec per sink. The sinks read their secrets through current at
// each delivery, so a refresh (or reload) is used at once; each secret is
// checked now, and an error names its field. The caller adds Store,
// Quotas, KeyAges, OnFire, Clock, Log and Meter.
func FromConfig(cfg *config.Config, current func() *config.Secrets) (Options, error) {
	o := Options{Rules: RulesFromConfig(cfg.Alerts, cfg.Rotation), Clients: map[string]Client{}}
	for name, c := range cfg.Clients {
		o.Clients[name] = Client{SourceCIDRs: len(c.SourceCIDRs) > 0}
	}
	o.Providers = slices.Sorted(maps.Keys(cfg.Providers))
	o.Keys = map[string][]string{}
	for name, p := range cfg.Providers {
		for _, k := range p.Keys {
			o.Keys[name] = append(o.Keys[name], k.ID)
		}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(cfg.Alerts.Sinks)) {
		spec, err := sinkFromConfig(cfg, name, current)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.Sinks = append(o.Sinks, spec)
	}
	return o, errors.Join(errs...)
}

func sinkFromConfig(cfg *config.Config, name string, current func() *config.Secrets) (SinkSpec, error) {
	s, field := cfg.Alerts.Sinks[name], "alerts.sinks."+name
	spec := SinkSpec{Name: name, MinSeverity: Severity(s.MinSeverity), Rules: s.Rules, SendResolved: s.SendResolved,
		Queue: s.Queue, Timeout: s.Timeout.Std(), MaxAttempts: s.MaxAttempts}
	get := func(f string) SecretFunc {
		return func() (secret.Value, bool) {
			sec := current()
			if sec == nil {
				return secret.Value{}, false
			}
			e, ok := sec.Entry(f)
			return e.Value, ok
		}
	}
	roots, err := caPool(cfg.BaseDir, s.CAFile)
	if err != nil {
		return spec, fmt.Errorf("%s.ca_file: %w", field, err)
	}
	switch s.Type {
	case "webhook":
		o := WebhookOptions{URL: s.URL, Secret: get(field + ".secret"), AllowHTTP: s.AllowHTTP, RootCAs: roots}
		if _, isRef := s.URLRef(); isRef {
			o.URL, o.URLSecret = "", get(field+".url")
			if err := checkSecretURL(o.URLSecret, s.AllowHTTP); err != nil {
				return spec, fmt.Errorf("%s.url: %w", field, err)
			}
		}
		if err := checkSigningSecret(o.Secret); err != nil {
			return spec, fmt.Errorf("%s.secret: %w", field, err)
		}
		spec.Sink, err = NewWebhookSink(o)
	case "slack":
		u := get(field + ".url")
		if err := checkSecretURL(u, false); err != nil {
			return spec, fmt.Errorf("%s.url: %w", field, err)
		}
		spec.Sink, err = NewSlackSink(SlackOptions{URL: u, RootCAs: roots})
	case "smtp":
		o := SMTPOptions{Host: s.Host, Port: s.SMTPPort(), ImplicitTLS: s.SMTPPort() == 465, From: s.From, To: s.To, RootCAs: roots}
		if !s.Username.IsZero() {
			o.Username, o.Password = get(field+".username"), get(field+".password")
		}
		spec.Sink, err = NewSMTPSink(o)
	case "log":
		spec.Sink = &LogSink{} // New gives it the engine's logger
	default:
		err = fmt.Errorf("unknown sink type %q", s.Type)
	}
	if err != nil {
		return spec, fmt.Errorf("%s: %w", field, err)
	}
	return spec, nil
}

func checkSecretURL(f SecretFunc, allowHTTP bool) error {
	v, ok := f()
	if !ok {
		return errors.New("the secret is not resolved")
	}
	_, err := checkURL(v.Reveal(), allowHTTP)
	return err
}

func checkSigningSecret(f SecretFunc) error {
	v, ok := f()
	if !ok {
		return errors.New("the secret is not resolved")
	}
	_, err := webhooksig.ParseKey(v.Reveal())
	return err
}

// caPool reads a PEM bundle (relative to the config's directory); none
// is the system roots.
func caPool(baseDir, file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(baseDir, file)
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
