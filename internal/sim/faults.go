package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultOversizedBytes is the body size of an oversized answer: larger than
// any sane response cap (the gateway defaults to 5 MiB).
const DefaultOversizedBytes int64 = 8 << 20

// Faults are injected failures; rates are probabilities in [0,1].
//
// One die is rolled per admitted request and the rates are consecutive
// slices of it, in the order error, reset, malformed, non-object, wrong
// type, oversized; so at most one fault hits a request, each kind happens at
// its own rate, and rates summing past 1 starve the later kinds. Latency is
// not a die: it is added to every admitted request.
type Faults struct {
	ErrorRate      float64       `json:"error_rate"`      // 500 with JSON error body
	Latency        time.Duration `json:"latency"`         // added before answering
	MalformedRate  float64       `json:"malformed_rate"`  // truncated JSON
	NonObjectRate  float64       `json:"non_object_rate"` // a JSON array
	WrongTypeRate  float64       `json:"wrong_type_rate"` // text/html content type
	OversizedRate  float64       `json:"oversized_rate"`  // body larger than OversizedBytes
	OversizedBytes int64         `json:"oversized_bytes"` // default 8 MiB
	ResetRate      float64       `json:"reset_rate"`      // connection reset mid-response
	// Reflect makes every answer echo the request's Authorization header,
	// as a debug endpoint or misconfigured proxy does: in a response
	// header, and in the body spelled as one of ReflectModes.
	Reflect string `json:"reflect,omitempty"`
}

// ReflectModes are the spellings Faults.Reflect can echo the key in.
var ReflectModes = []string{"raw", "percent", "json", "base64", "base64url", "hex"}

// faultsJSON is the wire form: latency is a Go duration string ("250ms")
// because nanosecond integers are unreadable in curl sessions.
type faultsJSON struct {
	ErrorRate      float64         `json:"error_rate"`
	Latency        json.RawMessage `json:"latency,omitempty"`
	MalformedRate  float64         `json:"malformed_rate"`
	NonObjectRate  float64         `json:"non_object_rate"`
	WrongTypeRate  float64         `json:"wrong_type_rate"`
	OversizedRate  float64         `json:"oversized_rate"`
	OversizedBytes int64           `json:"oversized_bytes"`
	ResetRate      float64         `json:"reset_rate"`
	Reflect        string          `json:"reflect,omitempty"`
}

// MarshalJSON writes latency as a duration string such as "250ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	lat, err := json.Marshal(f.Latency.String())
	if err != nil {
		return nil, fmt.Errorf("encoding latency: %w", err)
	}
	return json.Marshal(faultsJSON{
		ErrorRate: f.ErrorRate, Latency: lat, MalformedRate: f.MalformedRate,
		NonObjectRate: f.NonObjectRate, WrongTypeRate: f.WrongTypeRate,
		OversizedRate: f.OversizedRate, OversizedBytes: f.OversizedBytes, ResetRate: f.ResetRate,
		Reflect: f.Reflect,
	})
}

// UnmarshalJSON accepts latency as a duration string ("250ms") or as integer
// nanoseconds (what encoding/json would write for a bare time.Duration).
// Unknown fields are errors, so a typo never silently disables a fault.
func (f *Faults) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("decoding faults: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w faultsJSON
	if err := dec.Decode(&w); err != nil {
		// The wire type's name is ours, not the client's vocabulary.
		return fmt.Errorf("decoding faults: %s", strings.ReplaceAll(err.Error(), "faultsJSON.", "faults."))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("decoding faults: trailing data after the JSON object")
	}
	lat, err := parseLatency(w.Latency)
	if err != nil {
		return err
	}
	*f = Faults{
		ErrorRate: w.ErrorRate, Latency: lat, MalformedRate: w.MalformedRate,
		NonObjectRate: w.NonObjectRate, WrongTypeRate: w.WrongTypeRate,
		OversizedRate: w.OversizedRate, OversizedBytes: w.OversizedBytes, ResetRate: w.ResetRate,
		Reflect: w.Reflect,
	}
	return nil
}

func parseLatency(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("decoding latency %q: %w", s, err)
		}
		return d, nil
	}
	var ns int64
	if err := json.Unmarshal(raw, &ns); err != nil {
		return 0, fmt.Errorf("decoding latency: want a duration string or integer nanoseconds: %w", err)
	}
	return time.Duration(ns), nil
}

// Validate reports the first out-of-range field by its JSON name.
func (f Faults) Validate() error {
	rates := []struct {
		name string
		v    float64
	}{
		{"error_rate", f.ErrorRate}, {"malformed_rate", f.MalformedRate},
		{"non_object_rate", f.NonObjectRate}, {"wrong_type_rate", f.WrongTypeRate},
		{"oversized_rate", f.OversizedRate}, {"reset_rate", f.ResetRate},
	}
	for _, r := range rates {
		if !(r.v >= 0 && r.v <= 1) { // also rejects NaN
			return fmt.Errorf("%s must be between 0 and 1, got %v", r.name, r.v)
		}
	}
	if f.Latency < 0 {
		return errors.New("latency must not be negative")
	}
	if f.OversizedBytes < 0 {
		return errors.New("oversized_bytes must not be negative")
	}
	if f.Reflect != "" && !slices.Contains(ReflectModes, f.Reflect) {
		return fmt.Errorf("reflect must be one of %s, got %q", strings.Join(ReflectModes, ", "), f.Reflect)
	}
	return nil
}

func (f Faults) withDefaults() Faults {
	if f.OversizedBytes <= 0 {
		f.OversizedBytes = DefaultOversizedBytes
	}
	return f
}

func (f Faults) clamped() Faults {
	clamp := func(v float64) float64 {
		if !(v > 0) { // NaN and negatives
			return 0
		}
		return min(v, 1)
	}
	f.ErrorRate = clamp(f.ErrorRate)
	f.MalformedRate = clamp(f.MalformedRate)
	f.NonObjectRate = clamp(f.NonObjectRate)
	f.WrongTypeRate = clamp(f.WrongTypeRate)
	f.OversizedRate = clamp(f.OversizedRate)
	f.ResetRate = clamp(f.ResetRate)
	f.Latency = max(f.Latency, 0)
	if !slices.Contains(ReflectModes, f.Reflect) {
		f.Reflect = ""
	}
	return f
}

// fault is the outcome of one roll of the dice.
type fault int

const (
	faultNone fault = iota
	faultError
	faultReset
	faultMalformed
	faultNonObject
	faultWrongType
	faultOversized
)

// roll picks at most one fault for a request, plus the settings in force at
// that moment, so a concurrent SetFaults never mixes two configurations.
func (s *Simulator) roll() (fault, Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.faults
	u := s.dice.Float64()
	for _, c := range []struct {
		rate float64
		kind fault
	}{
		{f.ErrorRate, faultError}, {f.ResetRate, faultReset}, {f.MalformedRate, faultMalformed},
		{f.NonObjectRate, faultNonObject}, {f.WrongTypeRate, faultWrongType}, {f.OversizedRate, faultOversized},
	} {
		if u < c.rate {
			return c.kind, f
		}
		u -= c.rate
	}
	return faultNone, f
}

// reflectAuthorization echoes auth into h and into body (a JSON object)
// as a "debug" member, spelled as mode.
func reflectAuthorization(h http.Header, body []byte, auth, mode string) []byte {
	h.Set("X-Debug-Authorization", auth)
	var enc string
	switch mode {
	case "percent":
		enc = url.QueryEscape("https://api.example/echo?authorization=" + auth)
	case "json": // every character as a \u escape
		var b strings.Builder
		for _, r := range auth {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		enc = b.String()
	case "base64":
		enc = base64.StdEncoding.EncodeToString([]byte("Authorization: " + auth))
	case "base64url":
		enc = base64.RawURLEncoding.EncodeToString([]byte("Authorization: " + auth))
	case "hex":
		enc = hex.EncodeToString([]byte(auth))
	default: // raw
		raw, _ := json.Marshal(auth)
		enc = strings.Trim(string(raw), `"`)
	}
	member := `"debug":{"authorization":"` + enc + `"}`
	if len(bytes.TrimSpace(body)) <= 2 {
		return []byte("{" + member + "}")
	}
	return append([]byte("{"+member+","), bytes.TrimSpace(body)[1:]...)
}
