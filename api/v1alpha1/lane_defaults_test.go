package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// anonymousWeight still defaults to a valid weight.
func TestLaneDefaultAnonymousWeight(t *testing.T) {
	l := &Lane{Spec: LaneSpec{Entry: LaneEntry{Percentage: &Percentage{Weight: 30}}}}
	l.Default()
	if got := l.Spec.Entry.Percentage.AnonymousWeight; got == nil || *got != 30 {
		t.Errorf("anonymousWeight = %v, want 30", got)
	}
}

func TestLaneDefault(t *testing.T) {
	l := &Lane{Spec: LaneSpec{Propagation: LanePropagation{Header: "X-Lane"}}}
	l.Default()
	want := LaneSpec{
		Fallback:    FallbackBase,
		Propagation: LanePropagation{Modes: []string{PropagateHeader, PropagateBaggage}, Header: "x-lane"},
		Entry:       LaneEntry{Identity: Identity{UserHeader: DefaultUserHeader, TenantHeader: DefaultTenantHeader}},
	}
	if diff := cmp.Diff(want, l.Spec); diff != "" {
		t.Errorf("defaulted spec (-want +got):\n%s", diff)
	}
}
