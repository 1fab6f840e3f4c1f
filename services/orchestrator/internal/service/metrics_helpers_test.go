package service

import (
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sample is the value of name{labels} in the app's registry; name may end
// in _count or _sum for a histogram. It fails when there is no such series.
func sample(t *testing.T, s *stack, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	require.NoError(t, err)
	family, part := name, ""
	for _, suffix := range []string{"_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			family, part = base, suffix
		}
	}
	for _, mf := range mfs {
		if mf.GetName() != family && mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if !maps.Equal(got, labels) && !(len(labels) == 0 && len(got) == 0) {
				continue
			}
			switch {
			case m.GetHistogram() != nil && part == "_count":
				return float64(m.GetHistogram().GetSampleCount())
			case m.GetHistogram() != nil && part == "_sum":
				return m.GetHistogram().GetSampleSum()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}
