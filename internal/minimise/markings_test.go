package minimise

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTLP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want TLP
		err  string
	}{
		{in: "clear", want: TLPClear},
		{in: "green", want: TLPGreen},
		{in: "Amber", want: TLPAmber},
		{in: "AMBER+STRICT", want: TLPAmberStrict},
		{in: "red", want: TLPRed},
		{in: "TLP:AMBER+STRICT", want: TLPAmberStrict},
		{in: "tlp:Red", want: TLPRed},
		{in: "", err: `invalid TLP ""; want one of clear, green, amber, amber+strict, red (optionally prefixed TLP:)`},
		{in: "white", err: `invalid TLP "white"`},
		{in: "TLP:", err: `invalid TLP "TLP:"`},
		{in: "TLP:TLP:red", err: `invalid TLP "TLP:TLP:red"`},
		{in: " amber", err: `invalid TLP " amber"`},
		{in: "amber strict", err: `invalid TLP "amber strict"`},
		{in: "PAP:red", err: `invalid TLP "PAP:red"`},
		{in: "red\n", err: `invalid TLP "red\n"`},
		{in: strings.Repeat("x", 100), err: `invalid TLP "` + strings.Repeat("x", 40) + `"…; want`},
		// cut on a rune boundary: 39 ASCII bytes then a 2-byte rune
		{in: strings.Repeat("x", 39) + "éé", err: `invalid TLP "` + strings.Repeat("x", 39) + `"…`},
	} {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTLP(c.in)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				require.ErrorIs(t, err, ErrInvalidMarking)
				require.Zero(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestParsePAP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want PAP
		err  string
	}{
		{in: "clear", want: PAPClear},
		{in: "GREEN", want: PAPGreen},
		{in: "amber", want: PAPAmber},
		{in: "PAP:RED", want: PAPRed},
		{in: "amber+strict", err: `invalid PAP "amber+strict"; want one of clear, green, amber, red (optionally prefixed PAP:)`},
		{in: "TLP:red", err: `invalid PAP "TLP:red"`},
		{in: "white", err: `invalid PAP "white"`},
	} {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePAP(c.in)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				require.True(t, errors.Is(err, ErrInvalidMarking))
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

// TestMarkingOrderAndNames pins the order Check compares by and that
// String round-trips through Parse.
func TestMarkingOrderAndNames(t *testing.T) {
	t.Parallel()
	tlps := []TLP{TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed}
	for i, l := range tlps {
		got, err := ParseTLP(l.String())
		require.NoError(t, err)
		require.Equal(t, l, got)
		if i > 0 {
			require.Less(t, tlps[i-1], l)
		}
	}
	paps := []PAP{PAPClear, PAPGreen, PAPAmber, PAPRed}
	for i, l := range paps {
		got, err := ParsePAP(l.String())
		require.NoError(t, err)
		require.Equal(t, l, got)
		if i > 0 {
			require.Less(t, paps[i-1], l)
		}
	}
	require.Equal(t, "amber+strict", TLPAmberStrict.String())
	require.Equal(t, "unset", TLP(0).String())
	require.Equal(t, "unset", PAP(0).String())
	require.Equal(t, "invalid(9)", TLP(9).String())
	require.Equal(t, TLPAmber, DefaultTLP)
	require.Equal(t, PAPAmber, DefaultPAP)
}

func TestDefaultMarkings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, tlp, pap string
		want           Markings
		err            string
	}{
		{name: "unset is amber", want: Markings{TLPAmber, PAPAmber}},
		{name: "tlp only", tlp: "red", want: Markings{TLPRed, PAPAmber}},
		{name: "pap only", pap: "green", want: Markings{TLPAmber, PAPGreen}},
		{name: "both", tlp: "TLP:CLEAR", pap: "PAP:CLEAR", want: Markings{TLPClear, PAPClear}},
		{name: "bad tlp", tlp: "purple", err: `invalid TLP "purple"`},
		{name: "bad pap", pap: "amber+strict", err: `invalid PAP "amber+strict"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := DefaultMarkings(c.tlp, c.pap)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestMarkingsWithOverridesOnlyWhatIsSet(t *testing.T) {
	t.Parallel()
	client := Markings{TLP: TLPRed, PAP: PAPRed}
	got, err := client.With("green", "")
	require.NoError(t, err)
	require.Equal(t, Markings{TLP: TLPGreen, PAP: PAPRed}, got)
	got, err = client.With("", "")
	require.NoError(t, err)
	require.Equal(t, client, got)
	_, err = client.With("", "nope")
	require.ErrorIs(t, err, ErrInvalidMarking)
}
