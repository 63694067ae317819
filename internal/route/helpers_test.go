package route

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// compileYAML decodes multi-document YAML (VirtualService, DestinationRule,
// Gateway, Service) and compiles it.
func compileYAML(t testing.TB, docs string) *Table {
	t.Helper()
	return Compile(inputYAML(t, docs))
}

func inputYAML(t testing.TB, docs string) Input {
	t.Helper()
	var in Input
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("decode kind: %v", err)
		}
		var err error
		switch head.Kind {
		case "VirtualService":
			o := &networkingv1.VirtualService{}
			err = yaml.Unmarshal([]byte(doc), o)
			in.VirtualServices = append(in.VirtualServices, VirtualService{Object: o})
		case "DestinationRule":
			o := &networkingv1.DestinationRule{}
			err = yaml.Unmarshal([]byte(doc), o)
			in.DestinationRules = append(in.DestinationRules, DestinationRule{Object: o})
		case "Gateway":
			o := &networkingv1.Gateway{}
			err = yaml.Unmarshal([]byte(doc), o)
			in.Gateways = append(in.Gateways, Gateway{Object: o})
		case "ServiceEntry":
			o := &networkingv1.ServiceEntry{}
			err = yaml.Unmarshal([]byte(doc), o)
			in.ServiceEntries = append(in.ServiceEntries, ServiceEntry{Object: o})
		case "Service":
			o := &corev1.Service{}
			err = yaml.Unmarshal([]byte(doc), o)
			in.Services = append(in.Services, Service{Object: o})
		default:
			t.Fatalf("unexpected kind %q", head.Kind)
		}
		if err != nil {
			t.Fatalf("decode %s: %v", head.Kind, err)
		}
	}
	return in
}

// req builds a request: "GET http://host[:port]/path" plus "Name: value"
// headers.
func req(method, url string, headers ...string) *Request {
	scheme, rest, _ := strings.Cut(url, "://")
	authority, path, found := strings.Cut(rest, "/")
	if found {
		path = "/" + path
	} else {
		path = "/"
	}
	r := &Request{Method: method, Scheme: scheme, Authority: authority, Path: path, Header: http.Header{}}
	if _, port, ok := strings.Cut(authority, ":"); ok {
		p, _ := strconv.ParseUint(port, 10, 16)
		r.Port = uint32(p) // the listener port, as the commands set it from the URL
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Add(k, strings.TrimSpace(v))
	}
	return r
}

// outcome is a compact, comparable summary of a Result.
type outcome struct {
	Status int
	VS     string
	Route  int
	Dests  string // "host/subset:weight ..."
}

func summarize(res Result) outcome {
	o := outcome{Status: res.Status, Route: -1}
	if res.Route != nil {
		o.VS, o.Route = res.Route.VirtualService, res.Route.Index
		var parts []string
		for _, d := range res.Route.Destinations {
			s := strings.TrimSuffix(d.Host, ".svc.cluster.local")
			if d.Subset != "" {
				s += "/" + d.Subset
			}
			parts = append(parts, s+":"+strconv.Itoa(int(d.Weight)))
		}
		o.Dests = strings.Join(parts, " ")
	}
	return o
}
