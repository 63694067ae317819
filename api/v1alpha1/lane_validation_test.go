package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

// Lane errors name the fields the user wrote: a defaulted field that only
// copies a bad value (anonymousWeight from weight) is not reported again.
func TestLaneValidateNamesWrittenFields(t *testing.T) {
	tests := []struct {
		name string
		pct  Percentage
		want []string
	}{
		{"bad weight, no anonymousWeight", Percentage{Weight: 120},
			[]string{"spec.entry.percentage.weight: Invalid value: 120: must be between 0 and 100"}},
		{"bad weight and bad anonymousWeight", Percentage{Weight: -1, AnonymousWeight: ptr(int32(101))},
			[]string{"spec.entry.percentage.weight: Invalid value: -1: must be between 0 and 100",
				"spec.entry.percentage.anonymousWeight: Invalid value: 101: must be between 0 and 100"}},
		{"bad anonymousWeight only", Percentage{Weight: 10, AnonymousWeight: ptr(int32(200))},
			[]string{"spec.entry.percentage.anonymousWeight: Invalid value: 200: must be between 0 and 100"}},
		{"valid", Percentage{Weight: 30}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pct := tc.pct
			l := &Lane{ObjectMeta: metav1.ObjectMeta{Name: "gray"}, Spec: LaneSpec{
				Members: []LaneMember{{Service: "order", Workload: "order-v2"}},
				Entry:   LaneEntry{Percentage: &pct},
			}}
			l.Default()
			var got []string
			for _, e := range l.Validate() {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateLaneName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"gray", true},
		{"v2", true},
		{"lane-1", true},
		{"GRAY", false},
		{"base", false},
		{"", false},
		{"-gray", false},
		{"gray.v2", false},
		{"a-very-long-lane-name-that-is-longer-than-sixty-three-characters-x", false},
	}
	for _, tc := range tests {
		msgs := ValidateLaneName(tc.name)
		if got := len(msgs) == 0; got != tc.ok {
			t.Errorf("ValidateLaneName(%q) = %v, want valid %v", tc.name, msgs, tc.ok)
		}
	}
}
