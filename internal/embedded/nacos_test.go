package embedded

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestUpServesNacos: with Options.Nacos the runtime serves the local
// Nacos registry (internal/nacosserver) for as long as it runs, and the
// admin API's addresses name it.
func TestUpServesNacos(t *testing.T) {
	r := startWith(t, func(o *Options) { o.Nacos = "127.0.0.1:0" }, nil)
	a := r.rt.Addresses()
	if a.Nacos == "" || a.NacosGRPC == "" {
		t.Fatalf("addresses = %+v, want the Nacos HTTP and gRPC addresses", a)
	}
	base := "http://" + a.Nacos + "/nacos/v1/ns/instance"
	form := url.Values{"serviceName": {"order"}, "ip": {"10.0.0.7"}, "port": {"8082"}, "ephemeral": {"false"}}
	resp, err := http.Post(base, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if diff := cmp.Diff("ok", string(b)); diff != "" {
		t.Fatalf("register (-want +got):\n%s", diff)
	}
	resp, err = http.Get(base + "/list?serviceName=order")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Hosts []struct {
			IP   string `json:"ip"`
			Port int    `json:"port"`
		} `json:"hosts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	}{{"10.0.0.7", 8082}}
	if diff := cmp.Diff(want, list.Hosts); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
}
