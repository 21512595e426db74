package awssm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error is a failed Secrets Manager call. Its text is built from the
// fields below, not from the SDK's error: an operator sees the AWS error
// code (ResourceNotFoundException, AccessDeniedException,
// InvalidSignatureException, …), the HTTP status and the request id to
// quote to AWS support, and errors.As still reaches the SDK's error.
type Error struct {
	Op       string // GetSecretValue
	SecretID string // as referenced: a name or an ARN
	// Code is the AWS error code; "" when no answer came (TLS, network,
	// timeout, credentials).
	Code       string
	StatusCode int    // HTTP status; 0 without an answer
	RequestID  string // x-amzn-RequestId
	Message    string // the service's message, trimmed to one line
	Attempts   int    // when the retryer gave up, how many it made
	detail     string // what happened, when there is no Code
	causes     []error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op + ": ")
	if e.Code == "" {
		b.WriteString(e.detail)
	} else {
		fmt.Fprintf(&b, "%s (HTTP %d", e.Code, e.StatusCode)
		if e.RequestID != "" {
			fmt.Fprintf(&b, ", request id %s", e.RequestID)
		}
		b.WriteString(")")
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap reaches the context's error (context.Canceled,
// context.DeadlineExceeded) and the SDK's, except a decoding error, whose
// snapshot of the response body may hold the secret.
func (e *Error) Unwrap() []error { return e.causes }

// callError describes err, the failure of op on the secret id; ctx is the
// call's context, whose deadline is the per-request timeout.
func callError(ctx context.Context, op, id string, timeout time.Duration, err error) *Error {
	e := &Error{Op: op, SecretID: id}
	var (
		re  *awshttp.ResponseError
		mae *retry.MaxAttemptsError
		de  *smithy.DeserializationError
		ae  smithy.APIError
		rse *smithyhttp.RequestSendError
	)
	if errors.As(err, &re) {
		e.StatusCode, e.RequestID = re.HTTPStatusCode(), re.ServiceRequestID()
	}
	if errors.As(err, &mae) {
		e.Attempts = mae.Attempt
	}
	switch cerr := ctx.Err(); {
	case errors.Is(cerr, context.DeadlineExceeded):
		e.detail, e.causes = fmt.Sprintf("no answer within %s (secrets.aws.timeout)", timeout), []error{cerr, err}
	case cerr != nil:
		e.detail, e.causes = "cancelled", []error{cerr, err}
	case errors.As(err, &de):
		// Dropped from the chain: DeserializationError.Snapshot holds the
		// start of the body, which is the SecretString.
		e.detail = "the answer could not be decoded"
		if e.StatusCode != 0 {
			e.detail += fmt.Sprintf(" (HTTP %d)", e.StatusCode)
		}
	case errors.As(err, &ae):
		e.Code, e.Message, e.causes = ae.ErrorCode(), oneLine(ae.ErrorMessage()), []error{err}
	case errors.As(err, &rse):
		e.detail, e.causes = "the request failed: "+oneLine(rse.Err.Error()), []error{err}
	default:
		// Credentials or endpoint resolution failed before a request was
		// sent. The SDK's words are not repeated: a credential_process
		// whose output does not parse is quoted whole in them, keys
		// included. The error's type says which step failed.
		// Only whether it was about credentials is kept.
		e.detail = "the request could not be prepared (the endpoint could not be resolved): check secrets.aws.region and secrets.aws.endpoint"
		if strings.Contains(strings.ToLower(err.Error()), "credential") {
			e.detail = "no AWS credentials could be retrieved from the default chain (environment, shared files, " +
				"credential_process, web identity, ECS/EC2 role); the SDK's message is not repeated, it may quote them"
		}
	}
	return e
}

// oneLine trims a message to one printable line of at most 300 bytes, so
// a service message cannot forge log lines or flood them.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.TrimSpace(s)
}
