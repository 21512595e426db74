package upstream

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// isJSONArray reports a body (valid JSON already) that is an array.
func isJSONArray(body []byte) bool {
	t := bytes.TrimLeft(body, " \t\r\n")
	return len(t) > 0 && t[0] == '['
}

// matchesAny reports whether body, a validated JSON answer, matches one of
// ms. It parses the body only when there is something to match.
func matchesAny(body []byte, ms []BodyMatch) bool {
	if len(ms) == 0 {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var doc any
	if d.Decode(&doc) != nil {
		return false
	}
	for _, m := range ms {
		v, ok := resolvePointer(doc, m.Pointer)
		if !ok {
			continue
		}
		if t, ok := jsonText(v); ok && slices.Contains(m.Equals, t) {
			return true
		}
	}
	return false
}

// resolvePointer follows an RFC 6901 pointer ("/a/0/b", "~1" for "/",
// "~0" for "~") into a decoded JSON document.
func resolvePointer(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	if ptr[0] != '/' {
		return nil, false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n := doc.(type) {
		case map[string]any:
			v, ok := n[tok]
			if !ok {
				return nil, false
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			doc = n[i]
		default:
			return nil, false
		}
	}
	return doc, true
}

// jsonText is how a value compares with a BodyMatch's Equals: a string as
// itself, a number as written, true, false and null as their names;
// objects and arrays match nothing.
func jsonText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "null", true
	}
	return "", false
}
