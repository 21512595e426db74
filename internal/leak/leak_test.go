package leak

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/secret"
)

// reflections are the ways a server echoing a request can spell what it
// received; each takes the text around the key as well, because an echo
// never returns the key alone.
func reflections(text string) map[string]string {
	jsonEscaped := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		return b.String()
	}
	marshalled, _ := json.Marshal(text)
	return map[string]string{
		"raw":                  text,
		"query-escaped":        url.QueryEscape(text),
		"path-escaped":         url.PathEscape(text),
		"lowercase-percent":    lowerEscapes(url.QueryEscape(text)),
		"every-byte-percent":   percentAll(text, "%02X"),
		"every-byte-lowercase": percentAll(text, "%02x"),
		"mixed-case-percent":   mixedCase(percentAll(text, "%02X")),
		"python-quote":         pythonQuote(text),
		"nested-url":           url.QueryEscape("https://app.example/cb?next=" + url.QueryEscape("https://api.example/?k="+text)),
		"json-unicode-escapes": jsonEscaped(text),
		"json-marshal":         strings.Trim(string(marshalled), `"`),
		"base64-std":           base64.StdEncoding.EncodeToString([]byte(text)),
		"base64-raw-std":       base64.RawStdEncoding.EncodeToString([]byte(text)),
		"base64-url":           base64.URLEncoding.EncodeToString([]byte(text)),
		"base64-raw-url":       base64.RawURLEncoding.EncodeToString([]byte(text)),
		"hex":                  hex.EncodeToString([]byte(text)),
		"hex-upper":            strings.ToUpper(hex.EncodeToString([]byte(text))),
	}
}

// percentAll escapes every byte with format ("%02X" or "%02x").
func percentAll(s, format string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + fmt.Sprintf(format, s[i]))
	}
	return b.String()
}

// lowerEscapes lower-cases the hex digits of every %XX escape.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = byte(unicode.ToLower(rune(b[i+1]))), byte(unicode.ToLower(rune(b[i+2])))
			i += 2
		}
	}
	return string(b)
}

// mixedCase lower-cases every other hex digit of the escapes.
func mixedCase(s string) string {
	out := []byte(s)
	for i := range out {
		if i%2 == 0 && out[i] >= 'A' && out[i] <= 'F' {
			out[i] += 'a' - 'A'
		}
	}
	return string(out)
}

// pythonQuote is urllib.parse.quote's default: it keeps '/' and escapes
// '+', '=' and the rest Go's escapers treat differently.
func pythonQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func TestDetectorFindsEveryReflection(t *testing.T) {
	t.Parallel()
	keys := []string{
		"se_live_4f9a8b7c6d5e4f3a2b1c",           // plain
		"k+y/with=sp ce&amp;%25ü~<>",             // every escaping rule has work to do
		"Zm9v+YmFy/c2VjcmV0a2V5MTIzNDU2Nzg5MA==", // base64-style: +, / and = escape differently per encoder
	}
	for _, key := range keys {
		d := New(secret.NewValue("unrelated-other-key-000"), secret.NewValue(key))
		// Every alignment of the key inside the encoded text.
		for _, prefix := range []string{"", "B", "Be", "Bearer ", "Authorization: Bearer ", "x-api-key=k"} {
			for name, enc := range reflections(prefix + key + "\r\n") {
				t.Run(fmt.Sprintf("%q/%s/%q", key, name, prefix), func(t *testing.T) {
					body := `{"echo":{"headers":"` + enc + `"},"n":1}`
					if name == "json-marshal" || name == "json-unicode-escapes" {
						require.True(t, json.Valid([]byte(body)), body)
					}
					require.True(t, d.Contains([]byte(body)), "key not found in %s body %s", name, body)
					// Also as a JSON member name.
					require.True(t, d.Contains([]byte(`{"`+enc+`":1}`)), "key not found in member name")
				})
			}
		}
	}
}

// A key with a space, reflected from a form body or query string where a
// space is '+', once or inside a nested, percent-encoded URL.
func TestDetectorReadsPlusAsSpaceForSpacedKeys(t *testing.T) {
	t.Parallel()
	const key = "SECRET KEY-0123456789abcdef"
	d := New(secret.NewValue(key))
	for _, body := range []string{
		`{"q":"auth=SECRET+KEY-0123456789abcdef"}`,
		`{"u":"x%3Fauth%3DSECRET%2BKEY-0123456789abcdef"}`,
		`{"u":"` + url.QueryEscape("https://a.example/?next="+url.QueryEscape("https://b.example/?k="+key)) + `"}`,
	} {
		require.True(t, d.Contains([]byte(body)), body)
	}
	// Without a spaced key, '+' is only itself: a timestamp stays innocent.
	require.False(t, New(secret.NewValue("SECRETKEY-0123456789abcdef")).Contains([]byte(`{"t":"2026-12-01T00:00:00+00:00"}`)))
}

func TestDetectorIgnoresInnocentBodies(t *testing.T) {
	t.Parallel()
	key := "se_live_4f9a8b7c6d5e4f3a2b1c"
	d := New(secret.NewValue(key))
	innocent := []string{
		`{}`,
		`{"query":"8.8.8.8","score":12,"tags":["dns","google"]}`,
		`{"near":"se_live_4f9a8b7c6d5e4f3a2b1"}`,                               // one character short
		`{"escaped":"caf\u00e9 \"quoted\" \\ back\/slash","n":1.5e3}`,          // escapes, no key
		`{"b64":"` + base64.StdEncoding.EncodeToString([]byte("hello")) + `"}`, // other base64
	}
	for _, body := range innocent {
		require.False(t, d.Contains([]byte(body)), body)
	}
	require.False(t, New().Contains([]byte(key)), "an empty detector matches nothing")
	var nilDetector *Detector
	require.False(t, nilDetector.Contains([]byte(key)))
}

func TestFormsAreNeverShortDerivations(t *testing.T) {
	t.Parallel()
	for _, f := range Forms("abc") {
		require.True(t, f == "abc" || len(f) >= minDerivedLen, f)
	}
	require.Contains(t, Forms("abc"), "abc", "the raw form is kept however short")
	require.Nil(t, Forms(""))
}

func BenchmarkDetector(b *testing.B) {
	d := New(secret.NewValue("se_live_4f9a8b7c6d5e4f3a2b1c"), secret.NewValue("se_backup_9e8d7c6b5a4f3e2d1c0b"))
	var sb strings.Builder
	sb.WriteString(`{"results":[`)
	for i := range 200 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"name":"user%d","bio":"caf\u00e9 line\nbreak","url":"https://example.com/u/%d?x=1"}`, i, i, i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if d.Contains(body) {
			b.Fatal("false positive")
		}
	}
}

// FuzzUnescapeMatchesEncodingJSON: what Contains scans is what a client's
// decoder reads. Only valid UTF-8: the transport refuses anything else
// (I-JSON) before an answer gets here.
func FuzzUnescapeMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`"a\u0041\n\/\\\""`, `"\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`, `"plain"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, tok []byte) {
		var want string
		if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' || !utf8.Valid(tok) || json.Unmarshal(tok, &want) != nil {
			return
		}
		got := unescape(nil, tok[1:len(tok)-1])
		if string(got) != want {
			t.Fatalf("unescape(%q) = %q, encoding/json reads %q", tok, got, want)
		}
	})
}
