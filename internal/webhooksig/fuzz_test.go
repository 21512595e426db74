package webhooksig_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/intelgate/intelgate/internal/clocktest"
	"github.com/intelgate/intelgate/internal/webhooksig"
)

// FuzzVerifyHeaders feeds arbitrary header values and bodies to every
// scheme's header parser: none may panic, every error is one of the
// documented ones, and an id is only ever returned after CheckID.
func FuzzVerifyHeaders(f *testing.F) {
	now := time.Unix(1614265330, 0)
	f.Add("msg_1", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,AAAA", `{"test": 2432232314}`)
	f.Add("72d3162e", "", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "Hello, World!")
	f.Add("", "", "t=1614265330,v1=00,v1=,t=,=,,v0=zz", `{"id":"evt_1"}`)
	f.Add("a\x00b", "-1", "v1a,"+junkV1a[4:]+" v1,", "")
	f.Add("x", "999999999999999999", "t=99999999999999999999,v1="+junkV1, "null")
	standard, err := webhooksig.NewStandard([]string{specSecret, newEd25519(f).whpk}, 0, clocktest.New(now))
	if err != nil {
		f.Fatal(err)
	}
	github, err := webhooksig.NewGitHub([]string{ghSecret})
	if err != nil {
		f.Fatal(err)
	}
	stripe, err := webhooksig.NewStripe([]string{stripeSecret}, 0, clocktest.New(now))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig, body string) {
		h := http.Header{}
		h.Set(webhooksig.HeaderID, id)
		h.Set(webhooksig.HeaderTimestamp, ts)
		h.Set(webhooksig.HeaderSignature, sig)
		h.Set(webhooksig.HeaderGitHubDelivery, id)
		h.Set(webhooksig.HeaderGitHubSignature, sig)
		h.Set(webhooksig.HeaderStripeSignature, sig)
		for _, s := range []webhooksig.Scheme{standard, github, stripe} {
			got, err := s.Verify([]byte(body), h)
			if err != nil {
				if got != "" {
					t.Fatalf("%T: an id with an error", s)
				}
				if !errors.Is(err, webhooksig.ErrMissingHeaders) && !errors.Is(err, webhooksig.ErrTimestamp) &&
					!errors.Is(err, webhooksig.ErrSignature) && !errors.Is(err, webhooksig.ErrID) {
					t.Fatalf("%T: undocumented error %v", s, err)
				}
				continue
			}
			if cerr := webhooksig.CheckID(got); cerr != nil {
				t.Fatalf("%T: returned an unfit id", s)
			}
		}
	})
}
