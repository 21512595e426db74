package vaulttest

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/secret"
)

// kvSecret is one KV version 2 secret: its versions, oldest first
// (versions[i] is version i+1), as
// https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2 describes.
type kvSecret struct{ versions []*kvVersion }

type kvVersion struct {
	data      map[string]any // nil once destroyed
	created   time.Time
	deletion  time.Time // zero: not deleted nor scheduled for deletion
	destroyed bool
}

// metadata is the version's metadata object as reads and writes return it.
func (v *kvVersion) metadata(n int) map[string]any {
	deletion := ""
	if !v.deletion.IsZero() {
		deletion = rfc3339(v.deletion)
	}
	return map[string]any{
		"created_time": rfc3339(v.created), "custom_metadata": nil,
		"deletion_time": deletion, "destroyed": v.destroyed, "version": n,
	}
}

// gone reports whether a read of v returns no data: destroyed, or deleted
// (a deletion_time in the future is only a schedule).
func (v *kvVersion) gone(now time.Time) bool {
	return v.destroyed || (!v.deletion.IsZero() && !now.Before(v.deletion))
}

// serveKV routes /v1/MOUNT/{data,metadata,destroy}/PATH. The mount is the
// first path segment, as the gateway's vault:MOUNT/PATH references say.
// DELETE data/PATH is "Delete latest version of secret" (#delete-latest-version-of-secret),
// DELETE metadata/PATH "Delete metadata and all versions"
// (#delete-metadata-and-all-versions), both 204.
func (s *Server) serveKV(w http.ResponseWriter, r *http.Request, p string) {
	mount, rest, _ := strings.Cut(p, "/")
	op, path, _ := strings.Cut(rest, "/")
	if !s.mounts[mount] || path == "" {
		writeErrors(w, http.StatusNotFound, "no handler for route \""+p+"\". route entry not found.")
		return
	}
	key := mount + "/" + path
	write := r.Method == http.MethodPost || r.Method == http.MethodPut
	switch {
	case op == "data" && r.Method == http.MethodGet:
		s.readKV(w, key)
	case op == "data" && write:
		s.writeKV(w, r, key)
	case op == "data" && r.Method == http.MethodDelete:
		s.mutate(key, func(sec *kvSecret) { sec.versions[len(sec.versions)-1].deletion = s.now() })
		w.WriteHeader(http.StatusNoContent)
	case op == "destroy" && write:
		s.destroyKV(w, r, key)
	case op == "metadata" && r.Method == http.MethodDelete:
		s.mu.Lock()
		delete(s.kv, key)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

// readKV answers GET /v1/MOUNT/data/PATH, "Read secret version"
// (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version),
// for the current version: 200 with data and metadata; 404 with data null
// and the metadata when that version is deleted or destroyed; a plain 404
// ({"errors": []}) when there is no such secret.
func (s *Server) readKV(w http.ResponseWriter, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts.Reads++
	sec := s.kv[key]
	if sec == nil || len(sec.versions) == 0 {
		writeErrors(w, http.StatusNotFound)
		return
	}
	n := len(sec.versions)
	v := sec.versions[n-1]
	body := map[string]any{"data": v.data, "metadata": v.metadata(n)}
	status := http.StatusOK
	if v.gone(s.now()) {
		body["data"], status = nil, http.StatusNotFound
	}
	env := envelope(body, nil, nil)
	env["mount_type"] = "kv"
	writeJSON(w, status, env)
}

// writeKV answers POST /v1/MOUNT/data/PATH, "Create/Update secret"
// (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#create-update-secret):
// {"data": {...}, "options": {"cas": N}} writes a new version and returns
// its metadata.
func (s *Server) writeKV(w http.ResponseWriter, r *http.Request, key string) {
	var body struct {
		Data    map[string]any `json:"data"`
		Options struct {
			CAS *json.Number `json:"cas"`
		} `json:"options"`
	}
	if err := decodeBody(r, &body); err != nil || body.Data == nil {
		writeErrors(w, http.StatusBadRequest, "no data provided")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if body.Options.CAS != nil {
		cas, err := body.Options.CAS.Int64()
		current := 0
		if sec := s.kv[key]; sec != nil {
			current = len(sec.versions)
		}
		if err != nil || int(cas) != current {
			writeErrors(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
			return
		}
	}
	n, v := s.writeLocked(key, body.Data)
	writeJSON(w, http.StatusOK, envelope(v.metadata(n), nil, nil))
}

// destroyKV answers POST /v1/MOUNT/destroy/PATH, "Destroy secret versions"
// (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#destroy-secret-versions):
// {"versions": [1, 2]}.
func (s *Server) destroyKV(w http.ResponseWriter, r *http.Request, key string) {
	var body struct {
		Versions []int `json:"versions"`
	}
	if err := decodeBody(r, &body); err != nil || len(body.Versions) == 0 {
		writeErrors(w, http.StatusBadRequest, "no version number provided")
		return
	}
	s.mutate(key, func(sec *kvSecret) {
		for _, n := range body.Versions {
			if n >= 1 && n <= len(sec.versions) {
				sec.versions[n-1].destroyed, sec.versions[n-1].data = true, nil
			}
		}
	})
	w.WriteHeader(http.StatusNoContent)
}

// mutate applies f to the secret at key, if there is one with a version.
func (s *Server) mutate(key string, f func(*kvSecret)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.kv[key]; sec != nil && len(sec.versions) > 0 {
		f(sec)
	}
}

func (s *Server) writeLocked(key string, data map[string]any) (int, *kvVersion) {
	sec := s.kv[key]
	if sec == nil {
		sec = &kvSecret{}
		s.kv[key] = sec
	}
	now := s.now()
	v := &kvVersion{data: maps.Clone(data), created: now}
	if s.o.DeleteVersionAfter > 0 {
		v.deletion = now.Add(s.o.DeleteVersionAfter)
	}
	sec.versions = append(sec.versions, v)
	s.counts.Writes++
	return len(sec.versions), v
}

// Ref is the reference to field of the secret name on the first mount
// (vault:secret/NAME#FIELD by default).
func (s *Server) Ref(name, field string) secret.Ref {
	ref, err := secret.ParseRef("vault:" + s.o.Mounts[0] + "/" + name + "#" + field)
	if err != nil {
		panic("vaulttest: " + err.Error()) // a test wrote an impossible name
	}
	return ref
}

// Put writes fields as a new version of the secret name on the first
// mount, as `vault kv put` does.
func (s *Server) Put(t *testing.T, name string, fields map[string]string) {
	t.Helper()
	data := make(map[string]any, len(fields))
	for k, v := range fields {
		data[k] = v
	}
	s.Write(t, s.o.Mounts[0]+"/"+name, data)
}

// Delete removes the secret name on the first mount with all its versions
// and metadata, as `vault kv metadata delete` does.
func (s *Server) Delete(t *testing.T, name string) {
	t.Helper()
	s.Remove(t, s.o.Mounts[0]+"/"+name)
}

// Write writes data (any JSON values, so a test can store a number where a
// string belongs) as a new version of the secret at path, "MOUNT/PATH",
// and returns the version number.
func (s *Server) Write(tb testing.TB, path string, data map[string]any) int {
	tb.Helper()
	s.checkPath(tb, path)
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := s.writeLocked(path, data)
	return n
}

// Remove deletes the secret at path ("MOUNT/PATH") with every version.
func (s *Server) Remove(tb testing.TB, path string) {
	tb.Helper()
	s.checkPath(tb, path)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.kv, path)
}

// SoftDelete marks the current version of the secret at path deleted, as
// `vault kv delete` does: reads then answer 404 with its metadata.
func (s *Server) SoftDelete(tb testing.TB, path string) {
	tb.Helper()
	s.checkPath(tb, path)
	s.mutate(path, func(sec *kvSecret) { sec.versions[len(sec.versions)-1].deletion = s.now() })
}

// Destroy destroys the current version of the secret at path, as `vault
// kv destroy` does: its data is gone for good.
func (s *Server) Destroy(tb testing.TB, path string) {
	tb.Helper()
	s.checkPath(tb, path)
	s.mutate(path, func(sec *kvSecret) {
		v := sec.versions[len(sec.versions)-1]
		v.destroyed, v.data = true, nil
	})
}

func (s *Server) checkPath(tb testing.TB, path string) {
	tb.Helper()
	mount, rest, _ := strings.Cut(path, "/")
	if !s.mounts[mount] || rest == "" {
		tb.Fatalf("vaulttest: %q is not MOUNT/PATH on a mount of this server (%v)", path, s.o.Mounts)
	}
}
