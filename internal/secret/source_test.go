package secret

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeVault stands for the source a later issue adds: it answers from a
// map keyed by MOUNT/PATH#FIELD and records what it was asked.
type fakeVault struct {
	secrets map[string]string
	asked   *[]Ref
}

func (f fakeVault) Resolve(_ context.Context, ref Ref) (Value, error) {
	*f.asked = append(*f.asked, ref)
	v, ok := f.secrets[ref.Path+"#"+ref.Field]
	if !ok {
		return Value{}, errors.New(ref.String() + ": no such secret")
	}
	return NewValue(v), nil
}

// A scheme's source is replaced by passing one to With; the Sources it was
// made from, and so DefaultSources, keep theirs.
func TestSourcesWithAddsABackendWithoutPlumbing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var asked []Ref
	src := DefaultSources().With("vault", fakeVault{secrets: map[string]string{"secret/ig#key": "from-vault"}, asked: &asked})

	v, warnings, err := src.ResolveWithWarnings(ctx, mustRef(t, "vault:secret/ig#key"))
	require.NoError(t, err)
	require.Equal(t, "from-vault", v.Reveal())
	require.Nil(t, warnings, "a Source that is not a WarningSource reports none")
	require.Equal(t, []Ref{mustRef(t, "vault:secret/ig#key")}, asked)

	_, err = src.Resolve(ctx, mustRef(t, "vault:secret/ig#other"))
	require.EqualError(t, err, "vault:secret/ig#other: no such secret")

	_, err = src.Resolve(ctx, mustRef(t, "awssm:prod/ig#key"))
	require.ErrorIs(t, err, ErrNotSupported, "other schemes keep their sources")
	_, err = DefaultSources().Resolve(ctx, mustRef(t, "vault:secret/ig#key"))
	require.ErrorIs(t, err, ErrNotSupported, "With leaves the Sources it was called on as it was")
	require.Len(t, asked, 2)
}

func TestSourcesWithoutASourceForTheScheme(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := Sources{}.Resolve(ctx, mustRef(t, "env:HOME"))
	require.EqualError(t, err, `unknown secret reference scheme "env"`)

	_, err = Sources{}.With("file", File{}).Resolve(ctx, mustRef(t, "env:HOME"))
	require.EqualError(t, err, `unknown secret reference scheme "env"`)

	_, err = Sources{}.Resolve(ctx, Ref{})
	require.EqualError(t, err, "no secret reference given")
}
