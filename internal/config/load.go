package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/regfile"
)

// MaxFileSize bounds a config file; real ones are a few KiB.
const MaxFileSize = 4 << 20

// Load reads, defaults and validates the file at path. On any problem in the
// file it returns an ErrorList holding every problem found. Relative paths
// in the config are made absolute against the file's directory.
func Load(path string) (*Config, error) {
	cfg, err := LoadForValidation(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadForValidation is Load, except that when the file decoded but has
// problems it returns the config as decoded (defaulted, paths made
// absolute) beside the ErrorList, so `config validate` can go on to check
// the files and secrets it names and report everything in one run. The
// config is nil only when there is none: the file could not be read or is
// not YAML. Never run a gateway on a config returned with an error.
func LoadForValidation(path string) (*Config, error) {
	// regfile: a FIFO passed as --config fails at once instead of hanging.
	data, _, err := regfile.Read(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parse(data, filepath.Dir(abs))
}

// Parse decodes, defaults and validates data as if read from a file in
// baseDir ("" means the working directory). Like Load, it returns an
// ErrorList with every problem.
func Parse(data []byte, baseDir string) (*Config, error) {
	cfg, err := parse(data, baseDir)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// parse is Parse, returning the decoded config even when it has problems
// (see LoadForValidation).
func parse(data []byte, baseDir string) (*Config, error) {
	if baseDir == "" {
		baseDir = "."
	}
	base, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, fmt.Errorf("resolving config directory: %w", err)
	}

	cfg := Default()
	cfg.BaseDir = base
	root, fe := parseDocument(data)
	if fe != nil {
		return nil, ErrorList{fe}
	}
	// Presets expand at the YAML level first, so that their fields are
	// decoded and validated exactly like the user's own.
	presets, perrs := expandPresets(root)
	d := newDecoder()
	d.errs = append(d.errs, perrs...)
	if root != nil {
		d.decode("", root, reflect.ValueOf(cfg).Elem())
	}
	cfg.lines = d.lines
	cfg.applyPresetSchemas(presets)
	cfg.finish()

	v := newValidator(cfg, d.errs)
	v.config()
	cfg.absolutePaths()
	if err := append(d.errs, v.errs...).Err(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Validate applies the defaults that depend on other settings and checks
// c as Parse does — for configs assembled in code rather than loaded from
// a file. It returns an ErrorList, or nil.
func (c *Config) Validate() error {
	c.finish()
	v := newValidator(c, nil)
	v.config()
	return v.errs.Err()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseDocument parses exactly one YAML document; an empty file yields nil.
// A second document is refused: silently ignoring it would ignore settings.
func parseDocument(data []byte) (*yaml.Node, *FieldError) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(err)
		}
		return nil, &FieldError{Line: extra.Line, Msg: "only one YAML document is allowed"}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

func syntaxError(err error) *FieldError {
	msg := err.Error()
	fe := &FieldError{Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Msg = "invalid YAML: " + strings.TrimPrefix(msg, m[0])
	}
	return fe
}

// lineOf returns the line a field was written on, or the line of its
// nearest written ancestor (a missing "keys" points at its provider).
func (c *Config) lineOf(field string) int {
	for field != "" {
		if l, ok := c.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

// absolutePaths makes every relative path absolute against BaseDir, so the
// running gateway does not depend on its working directory.
func (c *Config) absolutePaths() {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(c.BaseDir, p)
	}
	if c.Server.TLS != nil {
		c.Server.TLS.CertFile = abs(c.Server.TLS.CertFile)
		c.Server.TLS.KeyFile = abs(c.Server.TLS.KeyFile)
	}
	if c.Storage.Driver == "sqlite" {
		c.Storage.DSN = abs(c.Storage.DSN)
	} else if ref, ok := c.Storage.DSNRef(); ok {
		c.Storage.DSN = ref.WithBaseDir(c.BaseDir).String()
	}
	for i := range c.Encryption.Keys {
		c.Encryption.Keys[i].Secret = c.Encryption.Keys[i].Secret.WithBaseDir(c.BaseDir)
	}
	c.Shared.URL = c.Shared.URL.WithBaseDir(c.BaseDir)
	if v := c.Secrets.Vault; v != nil {
		v.CAFile = abs(v.CAFile)
		v.Auth.ServiceAccountTokenFile = abs(v.Auth.ServiceAccountTokenFile)
		v.Auth.Token = v.Auth.Token.WithBaseDir(c.BaseDir)
		v.Auth.RoleID = v.Auth.RoleID.WithBaseDir(c.BaseDir)
		v.Auth.SecretID = v.Auth.SecretID.WithBaseDir(c.BaseDir)
	}
	if a := c.Secrets.AWS; a != nil {
		a.CAFile = abs(a.CAFile)
	}
	c.Jobs.CallbackCAFile = abs(c.Jobs.CallbackCAFile)
	for _, p := range c.Providers {
		p.TLS.CAFile = abs(p.TLS.CAFile)
		p.SchemaFile = abs(p.SchemaFile)
		for i := range p.Keys {
			p.Keys[i].Secret = p.Keys[i].Secret.WithBaseDir(c.BaseDir)
		}
	}
}

// LineOf returns the line field was written on, or 0; checks made outside
// this package (files a field names) use it to point at the right line.
func (c *Config) LineOf(field string) int { return c.lineOf(field) }
