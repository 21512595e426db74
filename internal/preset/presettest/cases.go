// Package presettest reads the presets' golden cases (internal/preset/
// testdata/NAME/cases.yaml), for the tests that replay them: the
// provider's own (internal/preset) and the vendor-compatible routes' over
// the whole gateway (internal/app).
package presettest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/intelgate/intelgate/internal/indicator"
)

// Key stands for the upstream key in the cases; Token for the gateway
// token in a compat request.
const (
	Key   = "TESTKEY"
	Token = "GATEWAYTOKEN"
)

// File is one preset's cases.
type File struct {
	Cases   []Case    `yaml:"cases"`
	Invalid []Invalid `yaml:"invalid"`
}

// Case is one recorded exchange with the vendor.
type Case struct {
	Name      string         `yaml:"name"`
	Source    string         `yaml:"source"`
	Type      indicator.Type `yaml:"type"`
	Indicator string         `yaml:"indicator"` // normalised
	Request   Request        `yaml:"request"`   // what the gateway must send upstream
	Response  Response       `yaml:"response"`  // what the vendor answers
	Want      string         `yaml:"want"`      // ok | not_found | rate_limited | auth_failed | invalid
	// Compat is the same lookup sent to the gateway the vendor's way.
	Compat *Request `yaml:"compat"`
}

// Request is an HTTP request as a case describes it.
type Request struct {
	Method  string            `yaml:"method"`
	Path    string            `yaml:"path"`
	Query   map[string]string `yaml:"query"`
	Headers map[string]string `yaml:"headers"`
	Form    map[string]string `yaml:"form"`
	JSON    map[string]any    `yaml:"json"`
}

// Response is the vendor's answer.
type Response struct {
	Status   int               `yaml:"status"`
	Headers  map[string]string `yaml:"headers"`
	BodyFile string            `yaml:"body_file"`
}

// Invalid is a malformed answer the preset's schema must refuse.
type Invalid struct {
	Name     string `yaml:"name"`
	BodyFile string `yaml:"body_file"`
	Status   int    `yaml:"status"`
}

// Dir is internal/preset/testdata, wherever the test runs from.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// Load reads the named preset's cases.
func Load(tb testing.TB, name string) File {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(), name, "cases.yaml"))
	if err != nil {
		tb.Fatalf("every preset has golden cases in testdata/%s/cases.yaml: %v", name, err)
	}
	var f File
	if err := yaml.Unmarshal(data, &f); err != nil {
		tb.Fatalf("testdata/%s/cases.yaml: %v", name, err)
	}
	if len(f.Cases) == 0 {
		tb.Fatalf("testdata/%s/cases.yaml has no cases", name)
	}
	return f
}

// Body reads a case's body file ("" reads as no body).
func Body(tb testing.TB, name, file string) []byte {
	tb.Helper()
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(Dir(), name, file))
	if err != nil {
		tb.Fatalf("testdata/%s/%s: %v", name, file, err)
	}
	return b
}
