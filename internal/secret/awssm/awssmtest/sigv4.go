package awssmtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signature Version 4, verified the way a service does it: from what the
// client says it signed (the Authorization header's SignedHeaders), over
// the request exactly as it arrived.
//
// Sources:
//   - Create a signed AWS API request (canonical request, string to sign,
//     signing key; its worked example is a test here):
//     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
//   - Elements of an AWS API request signature (Host, the date, which must
//     match the credential scope's, the Authorization header):
//     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html
//   - Secrets Manager Common Errors (status codes):
//     https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html
//
// Two choices the pages leave open. The window: Common Errors' RequestExpired
// allows 15 minutes, but header-signed requests to JSON endpoints are
// refused past 5 ("Signature expired: … (… - 5 min.)"), and 5 is what the
// SDK's clock-skew correction is built around (it acts past 4); the fake
// uses 5. The codes: Common Errors lists the Query-protocol names
// (InvalidClientTokenId, SignatureDoesNotMatch); a JSON 1.1 endpoint
// answers UnrecognizedClientException, InvalidSignatureException and
// IncompleteSignatureException, status 400, and InvalidSignatureException
// is among the codes the SDK's retryer treats as clock skew
// (aws/retry/middleware.go, clockSkewCodes), so the fake answers those.
//
// Why not recompute with aws-sdk-go-v2/aws/signer/v4: that signer decides
// for itself which headers to sign (everything present except its own
// ignore list, plus content-length from Request.ContentLength), whereas a
// verifier must canonicalise exactly the headers the client listed — the
// server sees headers the client's transport added after signing
// (Accept-Encoding, User-Agent rewritten by proxies) and Go's server moves
// Host out of the header map. Feeding the signer a rebuilt request would
// make the fake agree with the SDK by construction, not by the documented
// algorithm. So the canonical request is built here (about a hundred
// lines); the tests check it against the documentation's worked example
// and show that signatures made by the SDK's signer validate, on requests
// with query strings and repeated, space-padded headers too.
//
// Beyond the documentation, the fake also insists that X-Amz-Date and
// X-Amz-Target are signed: an unsigned target would let anyone who
// captured a request replay it as another operation, and the SDK signs
// both anyway.

const (
	algorithm   = "AWS4-HMAC-SHA256"
	service     = "secretsmanager"
	amzDate     = "20060102T150405Z"
	maxSkew     = 5 * time.Minute
	scopeSuffix = "aws4_request"
)

// Messages as the service words them, so SDK error handling (its
// clock-skew detection keys on the code) sees what it would in production.
const (
	msgBadSignature = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgBadToken     = "The security token included in the request is invalid."
)

func sigErr(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidSignatureException", msg}
}

func incomplete(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "IncompleteSignatureException", msg}
}

// authHeader is a parsed Authorization header.
type authHeader struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          []byte
}

// verify authenticates r, whose body has been read into body: one
// well-formed Authorization header, a known access key (with its session
// token, if temporary), a credential scope for this region and service on
// the X-Amz-Date's day, a date within five minutes of the server's clock,
// a body matching X-Amz-Content-Sha256 when sent, and a signature equal
// (in constant time) to the one recomputed with the key's secret.
func (s *Server) verify(r *http.Request, body []byte) *apiError {
	ah, aerr := parseAuthorization(r.Header.Values("Authorization"))
	if aerr != nil {
		return aerr
	}
	cred, ok := s.creds[ah.accessKeyID]
	if !ok {
		return &apiError{http.StatusBadRequest, "UnrecognizedClientException", msgBadToken}
	}
	if aerr := checkToken(r, cred, ah); aerr != nil {
		return aerr
	}
	t, aerr := s.checkDate(r, ah)
	if aerr != nil {
		return aerr
	}
	if ah.region != s.region {
		return sigErr(fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", ah.region))
	}
	if ah.service != service {
		return sigErr(fmt.Sprintf("Credential should be scoped to correct service: '%s'.", service))
	}
	for _, must := range []string{"host", "x-amz-date", "x-amz-target"} {
		if !slices.Contains(ah.signedHeaders, must) {
			return incomplete(fmt.Sprintf("'%s' must be a signed header.", must))
		}
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return sigErr("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	canon, aerr := canonicalRequest(r, ah.signedHeaders, payloadHash)
	if aerr != nil {
		return aerr
	}
	want := Sign(cred.SecretAccessKey, t, s.region, service, canon)
	if !hmac.Equal(want, ah.signature) {
		return sigErr(msgBadSignature)
	}
	return nil
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request, SignedHeaders=a;b;c, Signature=hex
func parseAuthorization(values []string) (authHeader, *apiError) {
	var ah authHeader
	switch len(values) {
	case 0:
		return ah, &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"}
	case 1:
	default:
		return ah, incomplete("More than one Authorization header.")
	}
	rest, ok := strings.CutPrefix(values[0], algorithm+" ")
	if !ok {
		return ah, incomplete("Authorization header must use " + algorithm + ".")
	}
	parts := map[string]string{}
	for p := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || parts[k] != "" {
			return ah, incomplete("Authorization header components must be Credential, SignedHeaders and Signature, once each.")
		}
		parts[k] = v
	}
	if len(parts) != 3 || parts["Credential"] == "" || parts["SignedHeaders"] == "" || parts["Signature"] == "" {
		return ah, incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.")
	}
	scope := strings.Split(parts["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || len(scope[1]) != 8 || scope[4] != scopeSuffix {
		return ah, incomplete("Credential must have the form AKID/YYYYMMDD/REGION/SERVICE/aws4_request.")
	}
	ah.accessKeyID, ah.date, ah.region, ah.service = scope[0], scope[1], scope[2], scope[3]
	ah.signedHeaders = strings.Split(parts["SignedHeaders"], ";")
	for i, h := range ah.signedHeaders {
		if h == "" || h != strings.ToLower(h) || (i > 0 && ah.signedHeaders[i-1] >= h) {
			return ah, incomplete("SignedHeaders must be lowercase, sorted and without duplicates.")
		}
	}
	sig, err := hex.DecodeString(parts["Signature"])
	if err != nil || len(sig) != sha256.Size || parts["Signature"] != strings.ToLower(parts["Signature"]) {
		return ah, incomplete("Signature must be 64 lowercase hexadecimal digits.")
	}
	ah.signature = sig
	return ah, nil
}

// checkToken: temporary credentials need their session token, signed; a
// long-term key must come without one.
func checkToken(r *http.Request, cred Credential, ah authHeader) *apiError {
	tok := r.Header.Values("X-Amz-Security-Token")
	switch {
	case cred.SessionToken == "" && len(tok) == 0:
		return nil
	case len(tok) != 1 || cred.SessionToken == "":
		return &apiError{http.StatusBadRequest, "UnrecognizedClientException", msgBadToken}
	case subtle.ConstantTimeCompare([]byte(tok[0]), []byte(cred.SessionToken)) != 1:
		return &apiError{http.StatusBadRequest, "UnrecognizedClientException", msgBadToken}
	case !slices.Contains(ah.signedHeaders, "x-amz-security-token"):
		return incomplete("'x-amz-security-token' must be a signed header.")
	}
	return nil
}

// checkDate reads X-Amz-Date, which must match the credential scope's day
// and lie within five minutes of the server's clock. (The Date header is
// also allowed by the documentation; the SDKs always send X-Amz-Date, and
// the fake accepts only that.)
func (s *Server) checkDate(r *http.Request, ah authHeader) (time.Time, *apiError) {
	raw := r.Header.Get("X-Amz-Date")
	if raw == "" {
		return time.Time{}, incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	t, err := time.Parse(amzDate, raw)
	if err != nil {
		return time.Time{}, incomplete("X-Amz-Date must be in the ISO 8601 basic format YYYYMMDDTHHMMSSZ.")
	}
	if t.Format("20060102") != ah.date {
		return time.Time{}, sigErr(fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'.", ah.date, t.Format("20060102")))
	}
	now := s.now()
	switch {
	case t.Before(now.Add(-maxSkew)):
		return time.Time{}, sigErr(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			raw, now.Add(-maxSkew).Format(amzDate), now.Format(amzDate)))
	case t.After(now.Add(maxSkew)):
		return time.Time{}, sigErr(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)",
			raw, now.Add(maxSkew).Format(amzDate), now.Format(amzDate)))
	}
	return t, nil
}

// canonicalRequest is
//
//	METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HexSHA256(body)
//
// with every signed header present in the request.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) (string, *apiError) {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	// Non-S3 services encode each path segment twice: once on the wire,
	// once more in the canonical form.
	b.WriteString(uriEncode(r.URL.EscapedPath(), false) + "\n")
	b.WriteString(canonicalQuery(r.URL.RawQuery) + "\n")
	for _, name := range signed {
		// A copy: Header.Values returns the request's own slice.
		values := slices.Clone(r.Header.Values(name))
		switch {
		case name == "host":
			values = []string{r.Host}
		case name == "content-length" && len(values) == 0 && r.ContentLength >= 0:
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		if len(values) == 0 {
			return "", incomplete(fmt.Sprintf("Signed header '%s' is not in the request.", name))
		}
		for i, v := range values {
			values[i] = trimAll(v)
		}
		b.WriteString(name + ":" + strings.Join(values, ",") + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n" + payloadHash)
	return b.String(), nil
}

// canonicalQuery sorts the parameters by encoded name, then value, each
// URI-encoded with only the unreserved characters left as they are.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var params []kv
	for p := range strings.SplitSeq(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			dk, dv = k, v // undecodable: sign as sent; the signature will tell
		}
		params = append(params, kv{uriEncode(dk, true), uriEncode(dv, true)})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	out := make([]string, len(params))
	for i, p := range params {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

// uriEncode is the documentation's UriEncode: every byte but A–Z, a–z,
// 0–9, '-', '.', '_' and '~' as %XX (uppercase hex); '/' too unless it is
// a path separator.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// trimAll removes leading and trailing whitespace and turns each run of
// spaces into one.
func trimAll(v string) string {
	v = strings.TrimSpace(v)
	for strings.Contains(v, "  ") {
		v = strings.ReplaceAll(v, "  ", " ")
	}
	return v
}

// Sign is the Signature Version 4 signature of a canonical request made at
// t for region and svc with secretKey: HMAC-SHA256 of the string to sign
// under the key derived from the secret, date, region and service. Tests
// use it to forge requests the fake must refuse.
func Sign(secretKey string, t time.Time, region, svc, canonical string) []byte {
	t = t.UTC()
	day := t.Format("20060102")
	scope := day + "/" + region + "/" + svc + "/" + scopeSuffix
	sum := sha256.Sum256([]byte(canonical))
	toSign := algorithm + "\n" + t.Format(amzDate) + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secretKey), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, svc)
	k = hmacSHA256(k, scopeSuffix)
	return hmacSHA256(k, toSign)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
