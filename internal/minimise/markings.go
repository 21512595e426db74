package minimise

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalidMarking is wrapped by every ParseTLP and ParsePAP error, so a
// handler can answer 400 without matching on text.
var ErrInvalidMarking = errors.New("invalid marking")

// TLP is a Traffic Light Protocol 2.0 level. Levels are ordered by how far
// the information may travel: a higher level may go to fewer places, so a
// request is sent to a provider only when its TLP is at most the
// provider's max_tlp.
//
// The zero TLP is "unset", not clear: a caller that forgets to mark a
// request must not thereby mark it as the least restricted. Policy.Check
// judges unset as DefaultTLP.
type TLP uint8

// TLP 2.0 levels, least restricted first.
const (
	TLPClear TLP = iota + 1
	TLPGreen
	TLPAmber
	TLPAmberStrict
	TLPRed
)

// DefaultTLP applies when neither the request nor the client says: amber
// ("limited disclosure") is what TLP 2.0 itself recommends assuming for
// unlabelled information shared inside an organisation.
const DefaultTLP = TLPAmber

var tlpNames = [...]string{TLPClear: "clear", TLPGreen: "green", TLPAmber: "amber", TLPAmberStrict: "amber+strict", TLPRed: "red"}

// String returns the level's TLP 2.0 name in lower case ("amber+strict"),
// "unset" for the zero TLP.
func (t TLP) String() string { return markingName(tlpNames[:], uint8(t)) }

// orDefault is t, or DefaultTLP when t is unset.
func (t TLP) orDefault() TLP {
	if t == 0 {
		return DefaultTLP
	}
	return t
}

// PAP is a Permissible Actions Protocol level: what the recipient may do
// with the information. Sending an indicator to a third-party vendor is an
// action the vendor can observe (and some share queries), so PAP caps it
// like TLP does. The zero PAP is "unset", judged as DefaultPAP.
type PAP uint8

// PAP levels, least restricted first.
const (
	PAPClear PAP = iota + 1
	PAPGreen
	PAPAmber
	PAPRed
)

// DefaultPAP applies when neither the request nor the client says; amber
// (passive actions only) matches DefaultTLP.
const DefaultPAP = PAPAmber

var papNames = [...]string{PAPClear: "clear", PAPGreen: "green", PAPAmber: "amber", PAPRed: "red"}

// String returns the level's name in lower case, "unset" for the zero PAP.
func (p PAP) String() string { return markingName(papNames[:], uint8(p)) }

func (p PAP) orDefault() PAP {
	if p == 0 {
		return DefaultPAP
	}
	return p
}

func markingName(names []string, v uint8) string {
	switch {
	case v == 0:
		return "unset"
	case int(v) < len(names):
		return names[v]
	}
	return "invalid(" + strconv.Itoa(int(v)) + ")"
}

// ParseTLP parses a TLP 2.0 level: clear, green, amber, amber+strict or
// red, in any case. The "TLP:" prefix of the standard's written form
// ("TLP:AMBER+STRICT") is accepted too: analysts and tools (MISP tags, STIX
// marking definitions, e-mail subjects) copy the label as printed, and the
// prefix cannot change which level is meant. Anything else is refused,
// including TLP 1.0's "white" (its meaning was redefined as clear; a
// client still on 1.0 should say so explicitly) and surrounding spaces.
func ParseTLP(s string) (TLP, error) {
	v, ok := parseMarking(tlpNames[:], "tlp:", s)
	if !ok {
		return 0, invalidMarking("TLP", "TLP:", tlpNames[:], s)
	}
	return TLP(v), nil
}

// ParsePAP parses a PAP level: clear, green, amber or red, in any case,
// optionally prefixed "PAP:" as in the written form, for the reason
// ParseTLP gives.
func ParsePAP(s string) (PAP, error) {
	v, ok := parseMarking(papNames[:], "pap:", s)
	if !ok {
		return 0, invalidMarking("PAP", "PAP:", papNames[:], s)
	}
	return PAP(v), nil
}

// parseMarking finds s among names (index 0 unused), ignoring case and an
// optional prefix. It does not allocate: headers are parsed per request.
func parseMarking(names []string, prefix, s string) (uint8, bool) {
	if len(s) > len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		s = s[len(prefix):]
	}
	for i := 1; i < len(names); i++ {
		if strings.EqualFold(s, names[i]) {
			return uint8(i), true
		}
	}
	return 0, false
}

// maxEcho bounds how much of a bad value an error repeats: a marking comes
// from a request header, and a hostile one must not flood a problem body
// or a log line. %q escapes control characters, so it cannot forge lines.
const maxEcho = 40

func invalidMarking(kind, prefix string, names []string, s string) error {
	return &markingError{msg: fmt.Sprintf("invalid %s %s; want one of %s (optionally prefixed %s)",
		kind, echo(s), strings.Join(names[1:], ", "), prefix)}
}

// markingError reads as a phrase of its own ("invalid TLP ...") yet is
// ErrInvalidMarking to errors.Is.
type markingError struct{ msg string }

func (e *markingError) Error() string        { return e.msg }
func (e *markingError) Is(target error) bool { return target == ErrInvalidMarking }

// echo quotes s, cut to maxEcho bytes on a rune boundary.
func echo(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// Markings are the TLP and PAP levels of one request.
type Markings struct {
	TLP TLP
	PAP PAP
}

// DefaultMarkings returns the markings a client's default_tlp and
// default_pap mean: each parsed when set, DefaultTLP / DefaultPAP when
// empty.
func DefaultMarkings(tlp, pap string) (Markings, error) {
	return Markings{TLP: DefaultTLP, PAP: DefaultPAP}.With(tlp, pap)
}

// With returns m with each non-empty string parsed over its level: the
// request's X-Intelgate-TLP / X-Intelgate-PAP over the client's defaults.
// A request may lower its own marking below the client's default; the
// header comes from the same client, which knows its data best.
func (m Markings) With(tlp, pap string) (Markings, error) {
	if tlp != "" {
		t, err := ParseTLP(tlp)
		if err != nil {
			return Markings{}, err
		}
		m.TLP = t
	}
	if pap != "" {
		p, err := ParsePAP(pap)
		if err != nil {
			return Markings{}, err
		}
		m.PAP = p
	}
	return m, nil
}
