package inspect

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/route"
)

func TestBuildRequest(t *testing.T) {
	tests := []struct {
		name     string
		in       RequestOptions
		want     *route.Request
		explicit bool
	}{
		{"mesh defaults", RequestOptions{URL: "http://appb:8000/a/b?x=1&y=2"},
			&route.Request{Authority: "appb:8000", Path: "/a/b?x=1&y=2", Method: "GET", Scheme: "http", Port: 8000, Header: http.Header{},
				Source: route.Source{Labels: map[string]string{}, Namespace: "default"}}, true},
		{"gateway namespace is the default source namespace", RequestOptions{URL: "https://shop.example.com", Gateway: "edge/gw", Method: "post",
			Headers: []string{"Cookie: a=1; tenantGray=1", "x-lane:  gray ", "Host: other.example.com"}, SourceLabels: "istio=ingressgateway"},
			&route.Request{Authority: "other.example.com", Path: "/", Method: "POST", Scheme: "https", Header: http.Header{
				"Cookie": {"a=1; tenantGray=1"}, "X-Lane": {"gray"}},
				Source: route.Source{Gateway: "edge/gw", Labels: map[string]string{"istio": "ingressgateway"}, Namespace: "edge"}}, false},
		{"explicit source namespace", RequestOptions{URL: "http://svc/", SourceNamespace: "shop", SourceLabels: "app=web, version=v2"},
			&route.Request{Authority: "svc", Path: "/", Method: "GET", Scheme: "http", Header: http.Header{},
				Source: route.Source{Labels: map[string]string{"app": "web", "version": "v2"}, Namespace: "shop"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, explicit, err := buildRequest(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if explicit != tc.explicit {
				t.Errorf("explicit port = %v, want %v", explicit, tc.explicit)
			}
		})
	}
}

func TestBuildRequestErrors(t *testing.T) {
	for _, in := range []RequestOptions{
		{},
		{URL: "ftp://x/"},
		{URL: "http:///path"},
		{URL: "http://x:0/"},
		{URL: "http://x/", Headers: []string{"no colon"}},
		{URL: "http://x/", Gateway: "a/b/c"},
		{URL: "http://x/", SourceLabels: "=v"},
	} {
		_, _, err := buildRequest(in)
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%+v: err = %v, want an InputError", in, err)
		}
	}
}
