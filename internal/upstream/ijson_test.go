package upstream

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckIJSON(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, 500) + `1` + strings.Repeat(`}`, 500)
	var many strings.Builder
	many.WriteString("{")
	for i := range 40 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	many.WriteString("}")
	manyDup := strings.TrimSuffix(many.String(), "}") + `,"k":2}`

	tests := []struct {
		name, body string
		reason     string // "" means I-JSON
	}{
		{"empty object", `{}`, ""},
		{"nested and arrays", ` {"a": [1, -2.5e3, true, false, null, {"b": "c"}], "d": {"a": 1}} `, ""},
		{"same name in different objects", `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":1}]}`, ""},
		{"escapes", `{"s":"caf\u00e9 \"q\" \\ \/ \b\f\n\r\t","pair":"\ud83d\ude00"}`, ""},
		{"raw UTF-8", `{"s":"café 😀"}`, ""},
		{"characters beside the noncharacters", "{\"s\":\"\uFDCF\uFDF0\uFFFD\U0010FFFD\"}", ""},
		{"largest double", `{"n":1.7976931348623157e308,"m":-1.7976931348623157e308}`, ""},
		{"underflow rounds to zero", `{"n":1e-400}`, ""},
		{"long integer within range", `{"n":` + strings.Repeat("9", 300) + `}`, ""},
		{"deep", deep, ""},
		{"forty members", many.String(), ""},

		{"duplicate name", `{"a":1,"a":2}`, "duplicate member name"},
		{"duplicate after unescaping", `{"a":1,"\u0061":2}`, "duplicate member name"},
		{"duplicate nested", `{"x":{"score":1,"score":99}}`, "duplicate member name"},
		{"duplicate in a large object", manyDup, "duplicate member name"},
		{"invalid UTF-8 byte", "{\"s\":\"a\xffb\"}", "invalid UTF-8"},
		{"invalid UTF-8 in a name", "{\"\xc3\":1}", "invalid UTF-8"},
		{"invalid UTF-8 beside an escape", "{\"s\":\"\\n\xed\xa0\x80\"}", "invalid UTF-8"},
		{"lone high surrogate", `{"s":"\ud800"}`, "lone surrogate"},
		{"lone high surrogate then text", `{"s":"\ud800abc"}`, "lone surrogate"},
		{"lone low surrogate", `{"s":"\udc00"}`, "lone surrogate"},
		{"high surrogate then non-surrogate escape", `{"s":"\ud800\u0041"}`, "lone surrogate"},
		{"noncharacter U+FFFF escaped", `{"s":"\uffff"}`, "noncharacter"},
		{"noncharacter U+FDD0 raw", "{\"s\":\"a\uFDD0b\"}", "noncharacter"},
		{"noncharacter U+10FFFE raw", "{\"s\":\"\U0010FFFE\"}", "noncharacter"},
		{"noncharacter in a name", `{"\ufffe":1}`, "noncharacter"},
		{"number too large", `{"n":1e400}`, "out of the range"},
		{"negative number too large", `{"n":[-1.8e308]}`, "out of the range"},
		{"integer too long for a double", `{"n":1` + strings.Repeat("0", 309) + `}`, "out of the range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tt.body)
			require.True(t, json.Valid(body), "the case must be valid JSON: checkIJSON runs after json.Valid")
			err := checkIJSON(body)
			if tt.reason == "" {
				require.Nil(t, err)
				return
			}
			require.NotNil(t, err)
			require.Equal(t, KindMalformed, err.Kind)
			require.Contains(t, err.Detail, "not I-JSON (RFC 7493)")
			require.Contains(t, err.Detail, tt.reason)
		})
	}
}

func FuzzCheckIJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"\ud83d\ude00","b":[1e5,{"a":1}]}`, `{"a":1,"a":2}`, `{"s":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		_ = checkIJSON(body) // must not panic or loop on any valid JSON
	})
}

// BenchmarkValidateBody is the per-answer cost of the JSON checks on a
// typical 4 KiB answer: json.Valid (syntax) and then checkIJSON, each one
// pass over the body.
func BenchmarkValidateBody(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"query":"johndoe","type":"username","results":[`)
	for i := range 24 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"platform":"site` + strings.Repeat("x", i%5) + `","url":"https:\/\/example.com\/u\/johndoe","score":0.87,"seen":[2024,2025],"bio":"caf\u00e9"}`)
	}
	sb.WriteString(`],"count":24}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if e := checkJSONObject(body); e != nil {
			b.Fatal(e)
		}
		if e := checkIJSON(body); e != nil {
			b.Fatal(e)
		}
	}
}
