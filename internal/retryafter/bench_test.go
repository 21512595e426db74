package retryafter

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkExhaustedNoHeaders is the common case on every successful
// answer: no rate-limit header at all. It should not allocate.
func BenchmarkExhaustedNoHeaders(b *testing.B) {
	h := http.Header{"Content-Type": {"application/json"}}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		Exhausted(h, now)
	}
}
