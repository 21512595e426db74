package alert_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/intelgate/intelgate/internal/alert"
	"github.com/intelgate/intelgate/internal/observe"
)

// The inputs are on the request path: these measure their cost under
// parallel load (go test -bench . -run ^$ ./internal/alert).
func BenchmarkInputs(b *testing.B) {
	e, err := alert.New(alert.Options{Rules: alert.DefaultRules(), Clients: map[string]alert.Client{"siem": {}, "soar": {SourceCIDRs: true}},
		Providers: []string{"socialeye"}})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Uint64
	b.Run("Request", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				e.Request("siem", ipv4(int(i%5000)), i, "ipv4", []string{"socialeye"})
			}
		})
	})
	b.Run("AuthFailed", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e.AuthFailed(ipv4(int(n.Add(1))), alert.AuthUnknownToken, "")
			}
		})
	})
	b.Run("ObserveAttempted", func(b *testing.B) {
		ev := observe.Attempted{Provider: "socialeye", KeyID: "prod-1", Attempt: 1, UpstreamStatus: 200}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e.Observe(context.Background(), ev)
			}
		})
	})
}
