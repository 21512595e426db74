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

func (f fakeVault) Fetch(ctx context.Context, refs []Ref) []Result {
	return Each(ctx, refs, func(_ context.Context, ref Ref) Result {
		*f.asked = append(*f.asked, ref)
		v, ok := f.secrets[ref.Path+"#"+ref.Field]
		if !ok {
			return Result{Err: errors.New(ref.String() + ": no such secret")}
		}
		return Result{Secret: Secret{Value: NewValue(v), Version: "3"}}
	})
}

// A scheme's source is replaced by passing one to With; the Sources it was
// made from, and so DefaultSources, keep theirs.
func TestSourcesWithAddsABackendWithoutPlumbing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var asked []Ref
	src := DefaultSources().With("vault", fakeVault{secrets: map[string]string{"secret/ig#key": "from-vault"}, asked: &asked})

	sec, err := src.Fetch(ctx, mustRef(t, "vault:secret/ig#key"))
	require.NoError(t, err)
	require.Equal(t, "from-vault", sec.Value.Reveal())
	require.Equal(t, "3", sec.Version, "the source's metadata comes through")
	require.Equal(t, []Ref{mustRef(t, "vault:secret/ig#key")}, asked)

	_, err = src.Resolve(ctx, mustRef(t, "vault:secret/ig#other"))
	require.EqualError(t, err, "vault:secret/ig#other: no such secret")

	_, err = src.Resolve(ctx, mustRef(t, "awssm:prod/ig#key"))
	require.ErrorIs(t, err, ErrNotConfigured, "other schemes keep their sources")
	_, err = DefaultSources().Resolve(ctx, mustRef(t, "vault:secret/ig#key"))
	require.ErrorIs(t, err, ErrNotConfigured, "With leaves the Sources it was called on as it was")
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

// FetchAll hands each scheme's references to its source in one batch, in
// the order given, and answers every reference even when some fail.
func TestFetchAllBatchesPerScheme(t *testing.T) {
	t.Parallel()
	var asked []Ref
	src := Sources{}.With("vault", fakeVault{secrets: map[string]string{"kv/a#x": "1", "kv/a#y": "2"}, asked: &asked}).
		With("env", Env{LookupEnv: func(n string) (string, bool) { return "env-value-" + n, n != "UNSET" }})
	refs := []Ref{mustRef(t, "vault:kv/a#x"), mustRef(t, "env:ONE"), {}, mustRef(t, "vault:kv/a#y"),
		mustRef(t, "awssm:prod#k"), mustRef(t, "env:UNSET")}
	res := src.FetchAll(context.Background(), refs)
	require.Len(t, res, len(refs))
	require.Equal(t, "1", res[0].Value.Reveal())
	require.Equal(t, "env-value-ONE", res[1].Value.Reveal())
	require.EqualError(t, res[2].Err, "no secret reference given")
	require.Equal(t, "2", res[3].Value.Reveal())
	require.EqualError(t, res[4].Err, `unknown secret reference scheme "awssm"`)
	require.EqualError(t, res[5].Err, "environment variable UNSET is not set")
	require.Equal(t, []Ref{refs[0], refs[3]}, asked, "one batch for the vault scheme, in order")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range src.FetchAll(ctx, refs[:2]) {
		require.ErrorIs(t, r.Err, context.Canceled)
	}
}
