package gate

import (
	"os"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/graylane/graylane/internal/decide"
)

// TestOpenAPI: docs/gate-openapi.yaml names every endpoint the gate
// serves and the reasons and sources its decisions give.
func TestOpenAPI(t *testing.T) {
	b, err := os.ReadFile("../../docs/gate-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas struct {
				Decision struct {
					Properties struct {
						Reason struct {
							Enum []string `json:"enum"`
						} `json:"reason"`
						Source struct {
							Enum []string `json:"enum"`
						} `json:"source"`
					} `json:"properties"`
				} `json:"Decision"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	want := []string{"/authz/{path}", "/healthz", "/metrics", "/readyz", "/v1/decide", "/v1/lanes", "/v1/lanes/{lane}",
		"/v1/login-hook", "/v1/snapshot", "/v1/whitelist", "/v1/whitelist/import", "/v1/whitelist/{kind}/{id}"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("paths (-served +documented):\n%s", diff)
	}
	// The gate's lanes have no header or cookie rules and admit no
	// anonymous client: these are the reasons and sources it gives.
	reasons := []string{decide.ReasonSigned, decide.ReasonWhitelist, decide.ReasonPercentage, decide.ReasonNone}
	if diff := cmp.Diff(reasons, doc.Components.Schemas.Decision.Properties.Reason.Enum); diff != "" {
		t.Errorf("reasons (-given +documented):\n%s", diff)
	}
	sources := []string{decide.SourceHeader, decide.SourceUser, decide.SourceTenant, decide.SourceHash, decide.SourceCookie, decide.SourceAnonymous}
	if diff := cmp.Diff(sources, doc.Components.Schemas.Decision.Properties.Source.Enum); diff != "" {
		t.Errorf("sources (-given +documented):\n%s", diff)
	}
}
