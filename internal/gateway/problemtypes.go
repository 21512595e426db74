package gateway

import "slices"

// problemKinds is every problem kind the gateway sends: the list clients,
// SDK tests and docs/api.md are checked against. The kinds themselves are
// defined in problem.go; TestProblemTypesListsEveryKind parses the package and fails
// when a problemKind literal is missing from this list.
var problemKinds = []problemKind{
	kindUnauthenticated,
	kindForbidden,
	kindSourceNotAllowed,
	kindInvalidParameter,
	kindUnknownProvider,
	kindUnsupportedType,
	kindNotFound,
	kindMethodNotAllowed,
	kindRateLimited,
	kindUpRateLimited,
	kindUpTLS,
	kindUpUnavailable,
	kindUpInvalid,
	kindUpAuth,
	kindUpError,
	kindUpTimeout,
	kindInternal,
	kindUnavailable,
	kindClientClosed,
	kindAuthFailures,
	kindRequestTooLarge,
	kindWithheld,
	kindRefreshForbidden,
	kindAdminRequired,
	kindConflict,
	kindReloadRefused,
	kindTooManyItems,
	kindIdempotencyReused,
	kindBadSignature,
}

// ProblemTypes returns the slug of every problem type the gateway defines,
// sorted: the part of the type URI after https://intelgate.dev/problems/.
// It includes client-closed, which is only ever written for the log (the
// caller has gone), and internal, which only a bug produces.
func ProblemTypes() []string {
	slugs := make([]string, 0, len(problemKinds))
	for _, k := range problemKinds {
		slugs = append(slugs, k.slug)
	}
	slices.Sort(slugs)
	return slices.Compact(slugs)
}
