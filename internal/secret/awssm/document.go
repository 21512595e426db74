package awssm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/intelgate/intelgate/internal/secret"
)

// Errors for a secret that was read but cannot answer a reference; each
// Result's error wraps one, names the reference and the version, and
// never holds the SecretString or any part of it.
var (
	// ErrBinary: the version holds SecretBinary; references read fields
	// of a SecretString JSON object.
	ErrBinary = errors.New("the secret version holds SecretBinary, not a SecretString JSON object")
	// ErrNotObject: the SecretString is not one JSON object with unique
	// member names.
	ErrNotObject = errors.New("the SecretString is not a JSON object of fields")
	// ErrNoField: the object has no member called FIELD.
	ErrNoField = errors.New("no such field in the secret")
	// ErrNotString: the member is a number, object, array, boolean or null.
	ErrNotString = errors.New("the field is not a JSON string")
)

// document is one version of a secret, parsed: its fields stay raw JSON
// until a reference asks for one.
type document struct {
	version string
	created time.Time
	fields  map[string]json.RawMessage
}

// parse turns a GetSecretValue answer into a document.
func parse(out *secretsmanager.GetSecretValueOutput, stage string) (document, error) {
	doc := document{version: aws.ToString(out.VersionId), created: aws.ToTime(out.CreatedDate).UTC()}
	if out.SecretString == nil {
		if out.SecretBinary != nil {
			return doc, fmt.Errorf("version %s (%s): %w", doc.version, stage, ErrBinary)
		}
		return doc, fmt.Errorf("version %s (%s) has no SecretString: %w", doc.version, stage, ErrNotObject)
	}
	fields, err := parseObject(*out.SecretString)
	if err != nil {
		return doc, fmt.Errorf("version %s (%s): %w", doc.version, stage, err)
	}
	doc.fields = fields
	return doc, nil
}

// parseObject reads a JSON object's members without decoding their
// values. A member named twice is refused: encoding/json would silently
// keep the last, and which key the gateway sends must not depend on that.
// Errors say where the JSON broke (a byte offset), never what is there:
// a syntax error's text quotes the offending character.
func parseObject(s string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	broken := func() error {
		return fmt.Errorf("invalid JSON near byte %d: %w", dec.InputOffset(), ErrNotObject)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err == nil {
			return nil, fmt.Errorf("a JSON %s: %w", kindOf(tok), ErrNotObject)
		}
		return nil, broken()
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, broken()
		}
		name, _ := tok.(string) // a JSON object's member names are strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, broken()
		}
		if _, dup := fields[name]; dup {
			return nil, fmt.Errorf("field %q appears twice: %w", name, ErrNotObject)
		}
		fields[name] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, broken()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the object: %w", ErrNotObject)
	}
	return fields, nil
}

// kindOf names a JSON token's type, for errors that must not show it.
func kindOf(tok json.Token) string {
	switch tok.(type) {
	case json.Delim: // '[': a '{' is the object we want
		return "array"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

// result answers ref from d, or with err, the failure to read d.
func (d document) result(ref secret.Ref, err error) secret.Result {
	if err != nil {
		return secret.Result{Err: fmt.Errorf("%s: %w", ref, err)}
	}
	raw, ok := d.fields[ref.Field]
	if !ok {
		return secret.Result{Err: fmt.Errorf("%s: version %s has no field %q: %w", ref, d.version, ref.Field, ErrNoField)}
	}
	var v string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
		return secret.Result{Err: fmt.Errorf("%s: field %q of version %s is %s: %w", ref, ref.Field, d.version, rawKind(raw), ErrNotString)}
	}
	if err := secret.CheckValue(ref, v); err != nil {
		return secret.Result{Err: fmt.Errorf("%w (version %s)", err, d.version)}
	}
	res := secret.Result{Secret: secret.Secret{Value: secret.NewValue(v), Version: d.version, ChangedAt: d.created}}
	if d.created.IsZero() {
		res.Warnings = []string{fmt.Sprintf("%s: the answer had no CreatedDate, so the key's age is unknown", ref)}
	}
	return res
}

// rawKind names the type of a JSON value that is not a string, by its
// first byte: enough to fix the secret, nothing of its content.
func rawKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
