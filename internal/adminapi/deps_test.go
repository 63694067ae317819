package adminapi_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestImportsNoServer: the admin API's types and client link no server -
// not the embedded runtime, not the gate's server or store, no SQL - and
// neither does the CLI package built on them (localapi). A console or a
// script in Go gets the client without the runtime.
func TestImportsNoServer(t *testing.T) {
	bad := regexp.MustCompile(`(?i)/internal/embedded$|/internal/gate$|/internal/gate/|sql|mysql|pgx|lib/pq`)
	for _, pkg := range []string{".", "../localapi"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		var found []string
		for _, p := range strings.Fields(string(out)) {
			if bad.MatchString(p) && p != "database/sql/driver" {
				found = append(found, p)
			}
		}
		if len(found) > 0 {
			t.Errorf("%s links %v", pkg, found)
		}
	}
}
