package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/intelgate/intelgate/internal/config"
	"github.com/intelgate/intelgate/internal/gateway"
	"github.com/intelgate/intelgate/internal/provider"
	"github.com/intelgate/intelgate/internal/upstream"
)

// checkFiles reads every file the configuration names (CA files, JSON
// schemas, the listener's certificate) the way serve will, so that
// `config validate` and `serve` report the same problems, each against
// its field, before anything starts.
func checkFiles(cfg *config.Config) config.ErrorList {
	var list config.ErrorList
	add := func(field string, err error) {
		list = append(list, &config.FieldError{Field: field, Line: cfg.LineOf(field), Msg: err.Error(), Err: err})
	}
	names := slices.Sorted(maps.Keys(cfg.Providers))
	for _, n := range names {
		p := cfg.Providers[n]
		if p.TLS.CAFile != "" {
			if _, err := upstream.RootPool(p.TLS.CAFile); err != nil {
				add(fmt.Sprintf("providers.%s.tls.ca_file", n), err)
			}
		}
		if p.SchemaFile != "" {
			if err := provider.CompileSchema(p.SchemaFile); err != nil {
				add(fmt.Sprintf("providers.%s.schema_file", n), err)
			}
		}
	}
	// Empty paths are a field error Load already reported.
	if t := cfg.Server.TLS; t != nil && t.CertFile != "" && t.KeyFile != "" {
		if _, err := gateway.LoadKeyPair(t.CertFile, t.KeyFile); err != nil {
			for _, e := range unjoin(err) {
				var kp *gateway.KeyPairError
				if errors.As(e, &kp) {
					add(kp.Field, kp.Err)
				} else {
					add("server.tls.cert_file", e)
				}
			}
		}
	}
	return list
}

// unjoin lists the errors errors.Join combined (err itself otherwise).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
