package route

import (
	"path/filepath"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/graylane/graylane/internal/manifest"
)

// upstream loads files of testdata/ (unchanged upstream manifests, see
// testdata/README.md) with the manifest loader the commands use, so
// findings carry file:line.
func upstream(t testing.TB, files ...string) Input {
	t.Helper()
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join("testdata", f)
	}
	set, err := manifest.Load(paths...)
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	var in Input
	for _, o := range set.Objects {
		loc := func(path string) string { return o.PathPos(path).String() }
		switch v := o.Typed.(type) {
		case *networkingv1.VirtualService:
			in.VirtualServices = append(in.VirtualServices, VirtualService{Object: v, Locate: loc})
		case *networkingv1.DestinationRule:
			in.DestinationRules = append(in.DestinationRules, DestinationRule{Object: v, Locate: loc})
		case *networkingv1.Gateway:
			in.Gateways = append(in.Gateways, Gateway{Object: v, Locate: loc})
		case *corev1.Service:
			in.Services = append(in.Services, Service{Object: v, Locate: loc})
		case *networkingv1.ServiceEntry:
			in.ServiceEntries = append(in.ServiceEntries, ServiceEntry{Object: v, Locate: loc})
		}
	}
	return in
}

const (
	bookinfo     = "istio/samples/bookinfo/"
	bookinfoNet  = bookinfo + "networking/"
	bookinfoKube = bookinfo + "platform/kube/bookinfo.yaml"
)

// shares draws every x of [0, TotalWeight()) once and counts the
// destinations picked, as "host/subset" -> count.
func shares(t *testing.T, rt *Route) map[string]int {
	t.Helper()
	out := map[string]int{}
	for x := range rt.TotalWeight() {
		i := rt.Pick(x)
		if i < 0 {
			t.Fatalf("Pick(%d) = -1 below TotalWeight %d", x, rt.TotalWeight())
		}
		d := rt.Destinations[i]
		out[shortHost(d.Host)+"/"+d.Subset]++
	}
	if i := rt.Pick(rt.TotalWeight()); i != -1 {
		t.Errorf("Pick(TotalWeight()) = %d, want -1", i)
	}
	return out
}

func shortHost(h string) string {
	name, _, ok := ServiceOf(h)
	if !ok {
		return h
	}
	return name
}

// TestUpstreamIgnoreURICase: the VirtualService reference's example of
// ignoreUriCase on a prefix, with the header condition of the same block.
func TestUpstreamIgnoreURICase(t *testing.T) {
	tab := Compile(upstream(t, "istio-api/networking/v1alpha3/virtual_service.proto.L711-728.yaml"))
	tests := []struct {
		name   string
		req    *Request
		status int
	}{
		{"prefix in another case", req("GET", "http://ratings.prod.svc.cluster.local/RATINGS/V2/x", "end-user: jason"), 200},
		{"prefix as written", req("GET", "http://ratings.prod.svc.cluster.local/ratings/v2/x", "end-user: jason"), 200},
		{"header values keep their case", req("GET", "http://ratings.prod.svc.cluster.local/ratings/v2/x", "end-user: Jason"), 404},
		{"other path", req("GET", "http://ratings.prod.svc.cluster.local/ratings/v1/x", "end-user: jason"), 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tab.Evaluate(tc.req).Status; got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
		})
	}
}
