package observe_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/observe"
	"github.com/intelgate/intelgate/internal/observe/observetest"
)

func TestJoin(t *testing.T) {
	t.Parallel()
	require.Nil(t, observe.Join(), "nothing to tell: nil, so callers build no event")
	require.Nil(t, observe.Join(nil, nil))
	a, b := &observetest.Recorder{}, &observetest.Recorder{}
	require.Same(t, a, observe.Join(nil, a), "one observer is itself")
	j := observe.Join(a, nil, b)
	e := observe.KeyRestored{Provider: "se", KeyID: "k1"}
	j.Observe(context.Background(), e)
	require.Equal(t, []observe.Event{e}, a.Events())
	require.Equal(t, []observe.Event{e}, b.Events())
}
