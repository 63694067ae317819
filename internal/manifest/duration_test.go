package manifest

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientnetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// TestDurations: Istio's types read a Duration with time.ParseDuration
// (the legacy jsonpb behind their UnmarshalJSON), so the loader accepts
// exactly that, not only protojson's "<seconds>s".
func TestDurations(t *testing.T) {
	tests := []struct {
		text string
		want time.Duration
	}{
		{"5s", 5 * time.Second},
		{"0.25s", 250 * time.Millisecond},
		{"250ms", 250 * time.Millisecond},
		{"3m", 3 * time.Minute},
		{"24h", 24 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"1m0.000000001s", time.Minute + time.Nanosecond},
		{"-5s", -5 * time.Second},
		{"-1.5s", -1500 * time.Millisecond},
		{"0", 0},
		{`"10us"`, 10 * time.Microsecond},
		{"2562047h47m16.854775807s", time.Duration(1<<63 - 1)},
		{"-2562047h47m16.854775808s", time.Duration(-1 << 63)},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			s := mustLoadBytes(t, "d.yaml", vsHead+"  hosts: [a]\n  http:\n  - timeout: "+tc.text+"\n    route: [{destination: {host: a}}]\n")
			got := s.Objects[0].Typed.(*clientnetworkingv1.VirtualService).Spec.Http[0].Timeout.AsDuration()
			if got != tc.want {
				t.Errorf("timeout %s = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"5", "5 minutes", "1d", "h", "2562047h47m16.854775808s", `""`} {
		t.Run("refused "+bad, func(t *testing.T) {
			if _, err := LoadBytes("d.yaml", []byte(vsHead+"  http:\n  - timeout: "+bad+"\n")); err == nil {
				t.Errorf("timeout %s loaded, want an error (time.ParseDuration refuses it)", bad)
			}
		})
	}
}

// TestUpstreamDurations loads Istio's own examples that write durations
// in minutes and hours: the circuit-breaking task's DestinationRule
// (baseEjectionTime: 3m) and the CORS example of the VirtualService
// reference (maxAge: "24h").
func TestUpstreamDurations(t *testing.T) {
	const dir = "../route/testdata/"
	s, err := Load(dir+"istio.io/content/en/docs/tasks/traffic-management/circuit-breaking/snip_configuring_the_circuit_breaker_1.yaml",
		dir+"istio-api/networking/v1alpha3/virtual_service.proto.L1389-1410.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dr := s.Objects[0].Typed.(*clientnetworkingv1.DestinationRule)
	vs := s.Objects[1].Typed.(*clientnetworkingv1.VirtualService)
	od := dr.Spec.GetTrafficPolicy().GetOutlierDetection()
	got := []time.Duration{od.GetInterval().AsDuration(), od.GetBaseEjectionTime().AsDuration(), vs.Spec.Http[0].GetCorsPolicy().GetMaxAge().AsDuration()}
	want := []time.Duration{time.Second, 3 * time.Minute, 24 * time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("interval, baseEjectionTime, maxAge (-want +got):\n%s", diff)
	}
}

// FuzzDuration: a timeout loads exactly when time.ParseDuration reads it,
// and keeps its value through the checker's rewrite for protojson.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"3m", "24h", "0.25s", "-1.5s", "0", "1d", "1e3s", "+5s", ".5s", "5.s", "1h-5m", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, perr := time.ParseDuration(s)
		text := vsHead + "  hosts: [a]\n  http:\n  - timeout: " + strconv.Quote(s) + "\n    route: [{destination: {host: a}}]\n"
		set, err := LoadBytes("d.yaml", []byte(text))
		switch {
		case perr != nil && err == nil:
			t.Fatalf("timeout %q loaded; time.ParseDuration refuses it: %v", s, perr)
		case perr == nil && err != nil:
			t.Fatalf("timeout %q (%v) refused: %v", s, want, err)
		case perr == nil:
			got := set.Objects[0].Typed.(*clientnetworkingv1.VirtualService).Spec.Http[0].Timeout.AsDuration()
			if got != want {
				t.Fatalf("timeout %q = %v, want %v", s, got, want)
			}
		}
	})
}
