package lane

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	networking "istio.io/api/networking/v1"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/route"
)

func exact(v string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Exact{Exact: v}}
}

func prefix(v string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Prefix{Prefix: v}}
}

func regex(v string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: v}}
}

func headersMatch(kv ...any) *networking.HTTPMatchRequest {
	m := &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{}}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Headers[kv[i].(string)] = kv[i+1].(*networking.StringMatch)
	}
	return m
}

// TestCross: every route match combined with every lane condition, in
// order; a condition's header or source label wins over the route's own of
// the same name; the route's other fields are kept and the route's
// matches are not changed.
func TestCross(t *testing.T) {
	uri := &networking.HTTPMatchRequest{Name: "api", Uri: prefix("/api"), Method: exact("GET"), Gateways: []string{"shop/gw"},
		QueryParams: map[string]*networking.StringMatch{"v": exact("2")}}
	withHeader := &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-graylane": exact("other"), "x-a": exact("1")},
		SourceLabels: map[string]string{"app": "web"}}
	laneHdr := headersMatch("x-graylane", exact("gray"))
	laneSrc := &networking.HTTPMatchRequest{SourceLabels: map[string]string{v1alpha1.LaneLabel: "gray"}}
	tests := []struct {
		name  string
		ms    []*networking.HTTPMatchRequest
		conds []*networking.HTTPMatchRequest
		want  []*networking.HTTPMatchRequest
	}{
		{"no route match: the conditions", nil, []*networking.HTTPMatchRequest{laneHdr, laneSrc}, []*networking.HTTPMatchRequest{laneHdr, laneSrc}},
		{"route fields kept", []*networking.HTTPMatchRequest{uri}, []*networking.HTTPMatchRequest{laneHdr},
			[]*networking.HTTPMatchRequest{{Name: "api", Uri: prefix("/api"), Method: exact("GET"), Gateways: []string{"shop/gw"},
				QueryParams: map[string]*networking.StringMatch{"v": exact("2")}, Headers: map[string]*networking.StringMatch{"x-graylane": exact("gray")}}}},
		{"every match times every condition, in order", []*networking.HTTPMatchRequest{uri, withHeader}, []*networking.HTTPMatchRequest{laneHdr, laneSrc},
			[]*networking.HTTPMatchRequest{
				{Name: "api", Uri: prefix("/api"), Method: exact("GET"), Gateways: []string{"shop/gw"},
					QueryParams: map[string]*networking.StringMatch{"v": exact("2")}, Headers: map[string]*networking.StringMatch{"x-graylane": exact("gray")}},
				{Name: "api", Uri: prefix("/api"), Method: exact("GET"), Gateways: []string{"shop/gw"},
					QueryParams: map[string]*networking.StringMatch{"v": exact("2")}, SourceLabels: map[string]string{v1alpha1.LaneLabel: "gray"}},
				{Headers: map[string]*networking.StringMatch{"x-graylane": exact("gray"), "x-a": exact("1")}, SourceLabels: map[string]string{"app": "web"}},
				{Headers: map[string]*networking.StringMatch{"x-graylane": exact("other"), "x-a": exact("1")},
					SourceLabels: map[string]string{"app": "web", v1alpha1.LaneLabel: "gray"}},
			}},
		{"no condition: nothing matches", []*networking.HTTPMatchRequest{uri}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before []*networking.HTTPMatchRequest
			for _, m := range tt.ms {
				before = append(before, cloneMatch(m))
			}
			got := cross(tt.ms, tt.conds)
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("cross (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tt.ms, protocmp.Transform()); diff != "" {
				t.Errorf("cross changed the route's matches (-before +after):\n%s", diff)
			}
		})
	}
}

func cloneMatch(m *networking.HTTPMatchRequest) *networking.HTTPMatchRequest {
	return cross([]*networking.HTTPMatchRequest{m}, []*networking.HTTPMatchRequest{{}})[0]
}

// TestGatewayConditions: on routes bound only to gateways a lane's header
// rules become header matches (exact, prefix, regex, presence as ".*")
// and its cookie rules regexes on the Cookie header; on mesh routes only
// the propagation carries the lane.
func TestGatewayConditions(t *testing.T) {
	spec := &v1alpha1.LaneSpec{
		Entry: v1alpha1.LaneEntry{
			Headers: []v1alpha1.HeaderRule{{Name: "X-Exact", Exact: "true"}, {Name: "x-prefix", Prefix: "be"}, {Name: "x-re", Regex: "v[0-9]+"}, {Name: "x-present"}},
			Cookies: []v1alpha1.CookieRule{{Name: "tenantGray", Exact: "1.5"}, {Name: "grp", Regex: "a|b"}},
		},
		Propagation: v1alpha1.LanePropagation{Header: "x-graylane", Modes: []string{v1alpha1.PropagateHeader, v1alpha1.PropagateBaggage, v1alpha1.PropagateSourceLabels}},
	}
	l := &Resolved{Name: "gray", Namespace: "shop", Spec: spec}
	gateway := []*networking.HTTPMatchRequest{
		headersMatch("x-graylane", exact("gray")),
		headersMatch("x-exact", exact("true")),
		headersMatch("x-prefix", prefix("be")),
		headersMatch("x-re", regex("v[0-9]+")),
		headersMatch("x-present", regex(".*")),
		headersMatch("cookie", regex(route.CookieRegex("tenantGray", `1\.5`))),
		headersMatch("cookie", regex(route.CookieRegex("grp", "(?:a|b)"))),
	}
	if diff := cmp.Diff(gateway, conditions(l, false), protocmp.Transform()); diff != "" {
		t.Errorf("gateway conditions (-want +got):\n%s", diff)
	}
	mesh := []*networking.HTTPMatchRequest{
		headersMatch("x-graylane", exact("gray")),
		headersMatch("baggage", regex(BaggageRegex("x-graylane", "gray"))),
		{SourceLabels: map[string]string{v1alpha1.LaneLabel: "gray"}},
	}
	if diff := cmp.Diff(mesh, conditions(l, true), protocmp.Transform()); diff != "" {
		t.Errorf("mesh conditions (-want +got):\n%s", diff)
	}
}
