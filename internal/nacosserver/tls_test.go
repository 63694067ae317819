package nacosserver

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graylane/graylane/internal/tlstest"
)

// TestTLSMode: in TLS mode the HTTP API answers over HTTPS to a client
// with a certificate the client CA signed, and refuses one without a
// certificate and a plain-text request; LoadTLS reads the same setup from
// files.
func TestTLSMode(t *testing.T) {
	ca := tlstest.NewCA(t, "nacos-ca")
	server, client := ca.Server("nacos", "127.0.0.1"), ca.Client("graylane")
	cfg, err := LoadTLS(server.CertFile, server.KeyFile, ca.File)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{TLS: cfg})
	if want := "https://" + s.HTTPAddr(); s.URL() != want || !s.TLS() {
		t.Errorf("URL() = %s, TLS() = %v; want %s, true", s.URL(), s.TLS(), want)
	}
	get := func(c *http.Client, url string) (string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.Status + " " + string(b), err
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client.Cert}}}}
	if got, err := get(withCert, s.URL()+"/nacos/v1/ns/operator/metrics"); err != nil || !strings.Contains(got, `"status":"UP"`) {
		t.Errorf("metrics over HTTPS with a client certificate = %q, %v", got, err)
	}
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientConfig()}}
	if got, err := get(noCert, s.URL()+"/nacos/v1/ns/operator/metrics"); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("metrics over HTTPS without a client certificate = %q, %v; want a refusal", got, err)
	}
	if got, err := get(http.DefaultClient, "http://"+s.HTTPAddr()+"/nacos/v1/ns/operator/metrics"); err == nil && !strings.HasPrefix(got, "400") {
		t.Errorf("plain HTTP to the TLS port = %q, want 400", got)
	}

	dir := t.TempDir()
	missing, notPEM := filepath.Join(dir, "missing.pem"), filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cert, key, clientCA, want string }{
		{server.CertFile, "", "", "a certificate file needs its key file"},
		{missing, server.KeyFile, "", "nacos TLS certificate " + missing + " with key " + server.KeyFile + ": open " + missing},
		{server.CertFile, server.KeyFile, missing, "nacos TLS client CA file: open " + missing},
		{server.CertFile, server.KeyFile, notPEM, "nacos TLS client CA file " + notPEM + ": no PEM certificate in it"},
	} {
		if _, err := LoadTLS(tc.cert, tc.key, tc.clientCA); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadTLS(%q, %q, %q) = %v, want an error with %q", tc.cert, tc.key, tc.clientCA, err, tc.want)
		}
	}
}
