package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

const plaintext = "sk_live_DO_NOT_PRINT_7f3a9c"

type holder struct {
	Name    string
	Key     Value
	private Value
	Ptr     *Value
}

func TestValueNeverPrints(t *testing.T) {
	t.Parallel()
	v := NewValue(plaintext)
	h := holder{Name: "socialeye", Key: v, private: v, Ptr: &v}

	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x"} {
		outputs["value "+verb] = fmt.Sprintf(verb, v)
		outputs["struct "+verb] = fmt.Sprintf(verb, h)
		outputs["ptr "+verb] = fmt.Sprintf(verb, &h)
	}
	outputs["println"] = fmt.Sprintln(v, h, &h)

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("loaded", "key", v, "holder", h, "ptr", &h)
	outputs["slog json"] = buf.String()

	var tbuf bytes.Buffer
	slog.New(slog.NewTextHandler(&tbuf, nil)).Info("loaded", "key", v, "holder", h)
	outputs["slog text"] = tbuf.String()

	js, err := json.Marshal(h)
	require.NoError(t, err)
	outputs["json"] = string(js)

	for name, out := range outputs {
		require.NotContains(t, out, plaintext, name)
		require.NotContains(t, out, "DO_NOT_PRINT", name)
	}
	require.Contains(t, outputs["value %v"], Redacted)
	require.Contains(t, outputs["json"], `"Key":"[REDACTED]"`)
	require.Contains(t, outputs["slog json"], `"key":"[REDACTED]"`)
	require.Equal(t, plaintext, v.Reveal())
}

func TestValueZeroAndFingerprint(t *testing.T) {
	t.Parallel()
	require.True(t, Value{}.IsZero())
	require.True(t, NewValue("").IsZero())
	require.Equal(t, "", Value{}.Reveal())
	require.Equal(t, "", Value{}.UnkeyedFingerprint())

	a, b := NewValue("k1"), NewValue("k2")
	require.False(t, a.IsZero())
	require.Len(t, a.UnkeyedFingerprint(), 16)
	require.Equal(t, a.UnkeyedFingerprint(), NewValue("k1").UnkeyedFingerprint())
	require.NotEqual(t, a.UnkeyedFingerprint(), b.UnkeyedFingerprint())
	require.NotContains(t, a.UnkeyedFingerprint(), "k1")
}
