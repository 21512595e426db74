package upstream

import "testing"

func TestMatchesAny(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		ms   []BodyMatch
		want bool
	}{
		{"string", `{"query_status":"no_results"}`, []BodyMatch{{"/query_status", []string{"no_results"}}}, true},
		{"other string", `{"query_status":"ok"}`, []BodyMatch{{"/query_status", []string{"no_results"}}}, false},
		{"one of several", `{"query_status":"hash_not_found"}`, []BodyMatch{{"/query_status", []string{"no_results", "hash_not_found"}}}, true},
		{"number as written", `{"total":0}`, []BodyMatch{{"/total", []string{"0"}}}, true},
		{"number other", `{"total":10}`, []BodyMatch{{"/total", []string{"0"}}}, false},
		{"bool", `{"found":false}`, []BodyMatch{{"/found", []string{"false"}}}, true},
		{"null", `{"data":null}`, []BodyMatch{{"/data", []string{"null"}}}, true},
		{"a string \"null\" is not null", `{"data":"nul"}`, []BodyMatch{{"/data", []string{"null"}}}, false},
		{"nested and escaped", `{"a/b":{"c~d":[1,"x"]}}`, []BodyMatch{{"/a~1b/c~0d/1", []string{"x"}}}, true},
		{"object never matches", `{"data":{}}`, []BodyMatch{{"/data", []string{"{}", ""}}}, false},
		{"missing key", `{"other":"no_results"}`, []BodyMatch{{"/query_status", []string{"no_results"}}}, false},
		{"index with leading zero", `{"a":["x","y"]}`, []BodyMatch{{"/a/01", []string{"y"}}}, false},
		{"index out of range", `{"a":["x"]}`, []BodyMatch{{"/a/1", []string{"x"}}}, false},
		{"no rules", `{"query_status":"no_results"}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := matchesAny([]byte(tt.body), tt.ms); got != tt.want {
				t.Fatalf("matchesAny(%s) = %v, want %v", tt.body, got, tt.want)
			}
		})
	}
}
