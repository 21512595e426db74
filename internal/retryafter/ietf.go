package retryafter

import (
	"net/http"
	"strings"
	"time"
)

// The IETF RateLimit header (draft-ietf-httpapi-ratelimit-headers) is an RFC
// 9651 Structured Field. Its current form is a List of policies, each a
// String name with parameters r (remaining units) and t (seconds until the
// window resets):
//
//	RateLimit: "day";r=100;t=3600, "burst";r=0;t=30
//	RateLimit-Policy: "day";q=1000;w=86400, "burst";q=10;w=60
//
// Draft 07 used a Dictionary instead: RateLimit: limit=10, remaining=0,
// reset=30. We read both with a small tolerant parser rather than a full
// Structured Field implementation: we need two integers, and anything we
// cannot read is simply ignored.

// ietfRateLimit returns the wait the RateLimit header asks for: the longest
// reset among exhausted policies (each one blocks us until it resets).
func ietfRateLimit(h http.Header) (time.Duration, bool) {
	members := splitOutsideQuotes(strings.Join(h.Values("Ratelimit"), ","), ',')
	if len(members) == 0 {
		return 0, false
	}
	var windows map[string]string // policy name → w, read only if needed
	var (
		wait  time.Duration
		found bool
		dict  = map[string]string{} // draft-07 dictionary members
	)
	for _, m := range members {
		name, params, isDict := parseMember(m)
		if isDict {
			dict[name] = params["_value"]
			continue
		}
		r, ok := parseCount(params["r"])
		if !ok || r != 0 {
			continue
		}
		t, hasT := params["t"]
		if !hasT {
			if windows == nil {
				windows = policyWindows(h)
			}
			t, hasT = windows[name]
		}
		if !hasT {
			continue
		}
		if d, ok := parseReset(t, time.Time{}, false); ok {
			wait, found = max(wait, d), true
		}
	}
	if found {
		return wait, true
	}
	return exhaustedPair(dict["remaining"], dict["reset"], time.Time{}, false)
}

// policyWindows maps each RateLimit-Policy name to its window w: when a
// policy is exhausted but RateLimit gives no t, the window is the longest
// the wait can be.
func policyWindows(h http.Header) map[string]string {
	out := map[string]string{}
	for _, m := range splitOutsideQuotes(strings.Join(h.Values("Ratelimit-Policy"), ","), ',') {
		name, params, isDict := parseMember(m)
		if w, ok := params["w"]; ok && !isDict {
			out[name] = w
		}
	}
	return out
}

// parseMember splits one list member into its item name and parameters.
// A member whose first part is key=value is a draft-07 dictionary member:
// its key is returned as name and its value as params["_value"].
func parseMember(m string) (name string, params map[string]string, isDict bool) {
	parts := splitOutsideQuotes(m, ';')
	params = map[string]string{}
	if len(parts) == 0 {
		return "", params, false
	}
	first := parts[0]
	if k, v, ok := strings.Cut(first, "="); ok && !strings.HasPrefix(first, `"`) {
		name, isDict = strings.TrimSpace(k), true
		params["_value"] = strings.TrimSpace(v)
	} else {
		name = unquote(first)
	}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			v = "?1" // a bare parameter is boolean true in Structured Fields
		}
		params[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return name, params, isDict
}

// splitOutsideQuotes splits s on sep, except inside "quoted strings"
// (honouring backslash escapes), and trims optional whitespace. Empty parts
// are dropped.
func splitOutsideQuotes(s string, sep byte) []string {
	var (
		out      []string
		start    int
		inQuote  bool
		escaping bool
	)
	add := func(part string) {
		if p := strings.Trim(part, " \t"); p != "" {
			out = append(out, p)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaping:
			escaping = false
		case inQuote && c == '\\':
			escaping = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			add(s[start:i])
			start = i + 1
		}
	}
	add(s[start:])
	return out
}

// unquote returns the content of a Structured Field String, or a token as
// it is. Escapes are undone only for \" and \\, the two RFC 9651 allows.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s)
}
