package secret_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret"
	"github.com/intelgate/intelgate/internal/secret/secrettest"
)

// envBackend is an environment of its own: a map behind Env.LookupEnv, so
// the suite runs in parallel without touching the process environment.
type envBackend struct {
	mu   sync.Mutex
	vars map[string]string
}

func (b *envBackend) Ref(name, field string) secret.Ref {
	return mustParse("env:" + name + "_" + field)
}

func (b *envBackend) Put(_ *testing.T, name string, fields map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleteLocked(name)
	for f, v := range fields {
		b.vars[name+"_"+f] = v
	}
}

func (b *envBackend) Delete(_ *testing.T, name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleteLocked(name)
}

func (b *envBackend) deleteLocked(name string) {
	for k := range b.vars {
		if len(k) > len(name) && k[:len(name)+1] == name+"_" {
			delete(b.vars, k)
		}
	}
}

func (b *envBackend) lookup(n string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.vars[n]
	return v, ok
}

// fileBackend is a directory with one file per field, written as an
// operator would (0600, one trailing newline).
type fileBackend struct{ dir string }

func (b fileBackend) Ref(name, field string) secret.Ref {
	return mustParse("file:" + filepath.Join(b.dir, name, field))
}

func (b fileBackend) Put(t *testing.T, name string, fields map[string]string) {
	b.Delete(t, name)
	require.NoError(t, os.MkdirAll(filepath.Join(b.dir, name), 0o700))
	for f, v := range fields {
		require.NoError(t, os.WriteFile(filepath.Join(b.dir, name, f), []byte(v+"\n"), 0o600))
	}
}

func (b fileBackend) Delete(t *testing.T, name string) {
	require.NoError(t, os.RemoveAll(filepath.Join(b.dir, name)))
}

func mustParse(s string) secret.Ref {
	r, err := secret.ParseRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

func TestEnvConformance(t *testing.T) {
	secrettest.Run(t, func(t *testing.T) secrettest.Harness {
		b := &envBackend{vars: map[string]string{}}
		return secrettest.Harness{Source: secret.Env{LookupEnv: b.lookup}, Backend: b}
	})
}

func TestFileConformance(t *testing.T) {
	secrettest.Run(t, func(t *testing.T) secrettest.Harness {
		return secrettest.Harness{Source: secret.File{}, Backend: fileBackend{dir: t.TempDir()}}
	})
}
