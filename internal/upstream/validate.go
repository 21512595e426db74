package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// reportableMediaTypes may be echoed in a detail. Anything else is described
// generically: a Content-Type is upstream-controlled text, and details reach
// gateway clients.
var reportableMediaTypes = map[string]bool{
	"text/html": true, "text/plain": true, "text/xml": true, "application/xml": true,
	"application/octet-stream": true, "application/x-www-form-urlencoded": true,
	"multipart/form-data": true, "text/csv": true, "application/javascript": true,
}

// checkContentType requires application/json or an application/*+json
// type (parameters allowed). A JSON-looking body under another type is
// still refused: it is how error pages and captive portals arrive.
func checkContentType(h http.Header) *Error {
	ct := h.Get("Content-Type")
	switch ct {
	case "":
		return &Error{Kind: KindContentType, Detail: "response has no Content-Type; want application/json"}
	case "application/json", "application/json; charset=utf-8":
		// What nearly every API sends, spelled as ParseMediaType would
		// accept it anyway; parsing it builds a parameter map per answer.
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && isJSONMediaType(mt) {
		return nil
	}
	got := "an unparseable Content-Type"
	switch {
	case err == nil && reportableMediaTypes[mt]:
		got = "Content-Type " + mt
	case err == nil:
		got = "a non-JSON Content-Type"
	}
	return &Error{Kind: KindContentType, Detail: "response has " + got + "; want application/json"}
}

func isJSONMediaType(mt string) bool {
	if mt == "application/json" {
		return true
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && len(sub) > len("+json") && strings.HasSuffix(sub, "+json")
}

// checkJSONObject requires exactly one JSON value, and that it be an
// object: the only shape the gateway promises its clients. Details name
// what arrived without quoting it.
func checkJSONObject(body []byte) *Error {
	if !json.Valid(body) {
		return &Error{Kind: KindMalformed, Detail: "response body is not valid JSON"}
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if trimmed[0] == '{' {
		return nil
	}
	return &Error{Kind: KindMalformed, Detail: "response body is a JSON " + jsonKind(trimmed[0]) + ", not an object"}
}

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// checkSchema validates body against schema. The detail names the schema
// keyword that failed (schema-side text, ours) but neither the instance
// location nor the library's message, which can quote body values.
func checkSchema(schema *jsonschema.Schema, body []byte) *Error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return &Error{Kind: KindMalformed, Detail: "response body is not valid JSON"}
	}
	err = schema.Validate(inst)
	if err == nil {
		return nil
	}
	detail := "response does not match the provider's JSON Schema"
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		if loc := keywordLocation(ve); loc != "" {
			detail += " (failed keyword " + loc + ")"
		}
	}
	return &Error{Kind: KindSchema, Detail: detail}
}

// keywordLocation is the schema-relative JSON pointer of the first leaf
// failure, e.g. "#/properties/score/type".
func keywordLocation(ve *jsonschema.ValidationError) string {
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	if ve.ErrorKind == nil {
		return ""
	}
	_, frag, _ := strings.Cut(ve.SchemaURL, "#")
	parts := append([]string{frag}, ve.ErrorKind.KeywordPath()...)
	return "#" + strings.Join(parts, "/")
}
