package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelgate/intelgate/internal/govern"
)

func TestHeadroomKeepsTheSustainedRate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want govern.Limit
	}{
		{govern.Limit{Rate: 200, Period: time.Second, Burst: 20}, govern.Limit{Rate: 200, Period: time.Second, Burst: 10}},
		{govern.Limit{Rate: 50, Period: time.Second, Burst: 10}, govern.Limit{Rate: 50, Period: time.Second, Burst: 5}},
		{govern.Limit{Rate: 20, Period: time.Second, Burst: 20}, govern.Limit{Rate: 20, Period: time.Second, Burst: 18}},
		{govern.Limit{Rate: 10, Period: time.Second, Burst: 10}, govern.Limit{Rate: 10, Period: time.Second, Burst: 9}},
		{govern.Limit{Rate: 10, Period: time.Second, Burst: 2}, govern.Limit{Rate: 10, Period: time.Second, Burst: 1}},
		{govern.Limit{Rate: 4, Period: time.Minute, Burst: 1}, govern.Limit{Rate: 4, Period: time.Minute + 4*250*time.Millisecond, Burst: 1}},
		{govern.Limit{Rate: 1, Period: time.Second, Burst: 1}, govern.Limit{Rate: 1, Period: time.Second + 50*time.Millisecond, Burst: 1}},
		{govern.Limit{}, govern.Limit{}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, withHeadroom(tc.in), "%+v", tc.in)
	}
}
