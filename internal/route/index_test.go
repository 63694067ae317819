package route

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// linear evaluates a virtual host route by route, without the plan: the
// reference the indexed plan must agree with.
func linear(vh *VirtualHost, r *Request) (int, int) {
	c := evalCtx{r: r}
	for i := range vh.routes {
		br := &vh.routes[i]
		if br.matches == nil {
			return i, -1
		}
		for j, m := range br.matches {
			if m.matches(&c) {
				return i, j
			}
		}
	}
	return -1, -1
}

func randomStringMatch(rng *rand.Rand, values []string) *networking.StringMatch {
	v := values[rng.IntN(len(values))]
	switch rng.IntN(8) {
	case 7:
		return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: "[a-z]*" + v + "[0-9]?"}}
	case 5:
		return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: ".*" + v[:1+rng.IntN(len(v))] + ".*"}}
	case 6:
		return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: "(?s).*" + v + ".*"}}
	case 0, 1:
		return &networking.StringMatch{MatchType: &networking.StringMatch_Exact{Exact: v}}
	case 2:
		return &networking.StringMatch{MatchType: &networking.StringMatch_Prefix{Prefix: v[:1+rng.IntN(len(v))]}}
	case 3:
		return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: v + "|" + values[rng.IntN(len(values))]}}
	default:
		return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: v[:1] + ".*"}}
	}
}

// TestIndexedPlanAgreesWithLinear builds random route lists dominated by
// exact/prefix conditions on a few headers and the uri, and checks that the
// planned evaluation picks the same route and block as trying every route.
func TestIndexedPlanAgreesWithLinear(t *testing.T) {
	values := []string{"a", "ab", "abc", "b", "ba", "v1", "v2", "v10", "/api", "/api/v1", "/"}
	headers := []string{"x-user", "x-lane", "cookie"}
	rng := rand.New(rand.NewPCG(1, 2))
	indexed := 0
	for round := 0; round < 300; round++ {
		dominant := headers[rng.IntN(len(headers))]
		vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "default"}}
		vs.Spec.Hosts = []string{"svc"}
		n := 1 + rng.IntN(40)
		for i := 0; i < n; i++ {
			var ms []*networking.HTTPMatchRequest
			for b := 0; b < 1+rng.IntN(2); b++ {
				m := &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{}}
				if rng.IntN(3) == 0 {
					m.Uri = randomStringMatch(rng, values)
				}
				for _, h := range headers {
					if rng.IntN(3) == 0 || (h == dominant && rng.IntN(10) != 0) {
						m.Headers[h] = randomStringMatch(rng, values)
					}
				}
				ms = append(ms, m)
			}
			if rng.IntN(15) == 0 {
				ms = nil
			}
			vs.Spec.Http = append(vs.Spec.Http, &networking.HTTPRoute{Match: ms,
				Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: "svc"}}}})
		}
		tab := Compile(Input{VirtualServices: []VirtualService{{Object: vs}}})
		vh := tab.sources[MeshSource].table("default").lookup("svc", "default")
		for _, st := range vh.steps {
			if st.idx != nil {
				indexed++
			}
		}
		for q := 0; q < 200; q++ {
			r := &Request{Authority: "svc", Path: values[rng.IntN(len(values))], Header: http.Header{}, Source: Source{Namespace: "default"}}
			for _, h := range headers {
				switch rng.IntN(6) {
				case 0:
				case 1:
					r.Header.Set(h, values[rng.IntN(len(values))]+"\n"+values[rng.IntN(len(values))])
				case 2:
					r.Header.Set(h, "k="+values[rng.IntN(len(values))]+"; "+values[rng.IntN(len(values))])
				default:
					r.Header.Set(h, values[rng.IntN(len(values))])
				}
			}
			res := tab.Evaluate(r)
			wantPos, wantBlock := linear(vh, r)
			gotPos := -1
			if res.Route != nil {
				gotPos = res.Route.Index
			}
			wantMatch := -1
			if wantBlock >= 0 {
				wantMatch = vh.routes[wantPos].origIdx[wantBlock]
			}
			if gotPos != wantPos || res.Match != wantMatch {
				t.Fatalf("round %d request %v %v: got route %d match %d, want %d %d (steps %s)",
					round, r.Path, r.Header, gotPos, res.Match, wantPos, wantMatch, describeSteps(vh))
			}
		}
	}
	if indexed < 50 {
		t.Errorf("only %d indexed steps were exercised", indexed)
	}
}

func describeSteps(vh *VirtualHost) string {
	s := ""
	for _, st := range vh.steps {
		s += fmt.Sprintf("[%d,%d indexed=%v] ", st.start, st.end, st.idx != nil)
	}
	return s
}

// TestEvaluateDoesNotAllocate: matched requests are served from the
// compiled table without heap allocation.
func TestEvaluateDoesNotAllocate(t *testing.T) {
	tab := compileYAML(t, seed004+"\n---\n"+matchConfig)
	reqs := []*Request{
		req("GET", "http://192.168.1.106/"),
		req("GET", "http://api/", "Cookie: a=1; tenantGray=1"),
		req("GET", "http://api/items/42"),
		req("GET", "http://api/p?a=1&lane=gray"),
		req("GET", "http://appb:8000/"),
	}
	reqs[0].Source.Gateway = "istio-system/app-gw"
	for _, r := range reqs[1:4] {
		r.Source.Namespace = "shop"
	}
	reqs[4].Source.Labels = map[string]string{"app": "appa", "version": "v2"}
	for _, r := range reqs {
		if res := tab.Evaluate(r); res.Route == nil {
			t.Fatalf("%s%s did not match", r.Authority, r.Path)
		}
		if n := testing.AllocsPerRun(100, func() { tab.Evaluate(r) }); n != 0 {
			t.Errorf("%s%s: %v allocations per Evaluate, want 0", r.Authority, r.Path, n)
		}
	}
}
