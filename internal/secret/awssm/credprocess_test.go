package awssm_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/secret/awssm"
	"github.com/intelgate/intelgate/internal/secret/awssm/awssmtest"
)

// A credential_process whose output the SDK cannot parse (here: an
// Expiration that is not RFC 3339) gets the whole output, credentials
// included, quoted into the SDK's error: awssm must not pass it on, to
// the error or the log. Not parallel: it sets the environment.
func TestCredentialProcessOutputNeverQuoted(t *testing.T) {
	cfg := isolateEnv(t)
	srv := awssmtest.New(t, awssmtest.Options{Region: "eu-west-1"})
	srv.Put(t, "alpha", map[string]string{"key": key1})
	const secretKey = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
	script := filepath.Join(t.TempDir(), "creds.sh")
	writeOrFail(t, script, []byte("#!/bin/sh\necho '{\"Version\":1,\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\""+secretKey+"\",\"SessionToken\":\"tok\",\"Expiration\":\"tomorrow\"}'\n"), 0o700)
	writeOrFail(t, cfg, []byte("[default]\nregion = eu-west-1\ncredential_process = "+script+"\n"), 0o600)
	var logs bytes.Buffer
	src, err := awssm.New(context.Background(), awssm.Options{Endpoint: srv.URL(), CAFile: srv.CAFile(t), Timeout: 5 * time.Second,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := fetch(t, src, srv.Ref("alpha", "key"))[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "credentials") {
		t.Fatalf("want a credentials error, got %v", r.Err)
	}
	if strings.Contains(r.Err.Error(), secretKey) || strings.Contains(logs.String(), secretKey) {
		t.Errorf("the AWS secret access key is in the error (%v) / log (%v)", strings.Contains(r.Err.Error(), secretKey), strings.Contains(logs.String(), secretKey))
	}
}

func writeOrFail(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}
