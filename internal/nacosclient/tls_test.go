package nacosclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosserver"
	"github.com/graylane/graylane/internal/tlstest"
)

// tlsCase is the TLS of one test that protocols runs over TLS: start
// serves TLS with a certificate for 127.0.0.1 that ca signed, newClient
// (and withTLS) makes the server https:// and trusts ca.
type tlsCase struct {
	ca     *tlstest.CA
	server tlstest.Pair
}

// tlsCases are the tests running over TLS, by their *testing.T.
var tlsCases sync.Map

func useTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "nacos-test")
	tlsCases.Store(t, &tlsCase{ca: ca, server: ca.Server("nacos", "127.0.0.1")})
	t.Cleanup(func() { tlsCases.Delete(t) })
}

func tlsOf(t *testing.T) *tlsCase {
	if v, ok := tlsCases.Load(t); ok {
		return v.(*tlsCase)
	}
	return nil
}

// serverTLS is the server's TLS configuration in a TLS case, else nil.
func serverTLS(t *testing.T) *tls.Config {
	if c := tlsOf(t); c != nil {
		return c.ca.ServerConfig(c.server, false)
	}
	return nil
}

// withTLS makes o's server https:// and trusts the test's CA, in a TLS
// case.
func withTLS(t *testing.T, o nacosclient.Options) nacosclient.Options {
	c := tlsOf(t)
	if c == nil {
		return o
	}
	o.Server = "https://" + strings.TrimPrefix(o.Server, "http://")
	o.TLS.CAFile = c.ca.File
	return o
}

// testHTTPClient reaches the test's server over plain HTTP or, in a TLS
// case, HTTPS trusting its CA.
func testHTTPClient(t *testing.T) *http.Client {
	if c := tlsOf(t); c != nil {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c.ca.ClientConfig()}}
	}
	return http.DefaultClient
}

// startTLS runs a real local Nacos server in TLS mode with a certificate
// ca signed for hosts, requiring a client certificate when mutual.
func startTLS(t *testing.T, ca *tlstest.CA, mutual bool, hosts ...string) *nacosserver.Server {
	t.Helper()
	cfg := ca.ServerConfig(ca.Server("nacos", hosts...), mutual)
	srv, err := nacosserver.Start(context.Background(), nacosserver.Options{Addr: "127.0.0.1:0", TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// grpcPortOf is the gRPC port of srv.
func grpcPortOf(t *testing.T, srv *nacosserver.Server) int {
	t.Helper()
	return portOf(t, srv.GRPCAddr())
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// roundTrip publishes and reads a configuration through c.
func roundTrip(ctx context.Context, c *nacosclient.Client) error {
	if err := c.PublishConfig(ctx, "tls.yaml", "", "x: 1\n", "yaml", ""); err != nil {
		return err
	}
	got, err := c.GetConfig(ctx, "tls.yaml", "")
	if err != nil {
		return err
	}
	if got.Content != "x: 1\n" {
		return errors.New("read " + got.Content)
	}
	return nil
}

// TestTLSTrust: a client that does not trust the server's CA fails with
// an error that says so (at New over gRPC, at the first call over HTTP;
// auto falls back to HTTP and fails there), and works once it trusts the
// CA or skips verification. A plain server reached as https:// says it
// does not speak TLS.
func TestTLSTrust(t *testing.T) {
	ctx := context.Background()
	ca, other := tlstest.NewCA(t, "nacos-ca"), tlstest.NewCA(t, "other-ca")
	srv := startTLS(t, ca, false, "127.0.0.1")
	plain := start(t, "", "")
	for _, tc := range []struct {
		name     string
		protocol string
		srv      *nacosserver.Server
		tls      nacosclient.TLSOptions
		want     string // "" works
	}{
		{"grpc untrusted", nacosclient.ProtocolGRPC, srv, nacosclient.TLSOptions{CAFile: other.File}, "signed by an unknown authority: trust its CA with a CA file"},
		{"http untrusted", nacosclient.ProtocolHTTP, srv, nacosclient.TLSOptions{CAFile: other.File}, "signed by an unknown authority: trust its CA with a CA file"},
		{"auto untrusted", nacosclient.ProtocolAuto, srv, nacosclient.TLSOptions{CAFile: other.File}, "signed by an unknown authority"},
		{"grpc no CA", nacosclient.ProtocolGRPC, srv, nacosclient.TLSOptions{}, "unknown authority"},
		{"grpc trusted", nacosclient.ProtocolGRPC, srv, nacosclient.TLSOptions{CAFile: ca.File}, ""},
		{"http trusted", nacosclient.ProtocolHTTP, srv, nacosclient.TLSOptions{CAFile: ca.File}, ""},
		{"grpc insecure", nacosclient.ProtocolGRPC, srv, nacosclient.TLSOptions{InsecureSkipVerify: true}, ""},
		{"http insecure", nacosclient.ProtocolHTTP, srv, nacosclient.TLSOptions{CAFile: other.File, InsecureSkipVerify: true}, ""},
		{"grpc to a plain server", nacosclient.ProtocolGRPC, plain, nacosclient.TLSOptions{CAFile: ca.File}, "does not speak TLS"},
		{"http to a plain server", nacosclient.ProtocolHTTP, plain, nacosclient.TLSOptions{CAFile: ca.File}, "does not speak TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, newAndRoundTrip(ctx, nacosclient.Options{Server: "https://" + tc.srv.HTTPAddr(), Protocol: tc.protocol,
				GRPCPort: grpcPortOf(t, tc.srv), TLS: tc.tls}), tc.want)
		})
	}
}

// TestMutualTLS: a server that requires a client certificate serves a
// client with one its CA signed, over gRPC and HTTPS, and refuses one
// without a certificate or with one another CA signed, with an error that
// says a client certificate is needed.
func TestMutualTLS(t *testing.T) {
	ctx := context.Background()
	ca, other := tlstest.NewCA(t, "nacos-ca"), tlstest.NewCA(t, "other-ca")
	srv := startTLS(t, ca, true, "127.0.0.1")
	good, foreign := ca.Client("graylane"), other.Client("graylane")
	for _, p := range []string{nacosclient.ProtocolGRPC, nacosclient.ProtocolHTTP} {
		for _, tc := range []struct {
			name string
			cert tlstest.Pair
			want string
		}{
			{"with a certificate", good, ""},
			{"without a certificate", tlstest.Pair{}, "requires a client certificate it trusts (mutual TLS)"},
			{"with a foreign certificate", foreign, "requires a client certificate it trusts (mutual TLS)"},
		} {
			t.Run(p+" "+tc.name, func(t *testing.T) {
				wantError(t, newAndRoundTrip(ctx, nacosclient.Options{Server: "https://" + srv.HTTPAddr(), Protocol: p, GRPCPort: grpcPortOf(t, srv),
					TLS: nacosclient.TLSOptions{CAFile: ca.File, CertFile: tc.cert.CertFile, KeyFile: tc.cert.KeyFile}}), tc.want)
			})
		}
	}
}

// TestTLSAuto: auto picks gRPC over TLS for an https:// server whose
// gRPC port serves Nacos over TLS; it falls back to HTTPS when the gRPC
// port answers TLS but not as Nacos, or Nacos' gRPC in plain text, where
// grpc is an error.
func TestTLSAuto(t *testing.T) {
	ctx := context.Background()
	ca := tlstest.NewCA(t, "nacos-ca")
	srv := startTLS(t, ca, false, "127.0.0.1")
	o := nacosclient.Options{Server: "https://" + srv.HTTPAddr(), GRPCPort: grpcPortOf(t, srv), TLS: nacosclient.TLSOptions{CAFile: ca.File}}
	c := newClient(t, o)
	if c.Protocol() != nacosclient.ProtocolGRPC {
		t.Errorf("auto with a TLS gRPC port picked %s, want grpc", c.Protocol())
	}
	if err := roundTrip(ctx, c); err != nil {
		t.Fatal(err)
	}

	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	other.TLS = ca.ServerConfig(ca.Server("other", "127.0.0.1"), false)
	other.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused h2 handshakes
	other.StartTLS()
	defer other.Close()
	o.GRPCPort = other.Listener.Addr().(*net.TCPAddr).Port
	auto := newClient(t, o)
	if auto.Protocol() != nacosclient.ProtocolHTTP {
		t.Errorf("auto with an HTTPS server on the gRPC port picked %s, want http", auto.Protocol())
	}
	if err := roundTrip(ctx, auto); err != nil {
		t.Errorf("auto fell back to HTTPS but: %v", err)
	}
	o.Protocol = nacosclient.ProtocolGRPC
	if c, err := nacosclient.New(ctx, o); err == nil {
		c.Close()
		t.Errorf("grpc with an HTTPS server on the gRPC port: no error")
	}

	plain := start(t, "", "")
	o.Protocol, o.GRPCPort = nacosclient.ProtocolAuto, grpcPortOf(t, plain)
	if auto := newClient(t, o); auto.Protocol() != nacosclient.ProtocolHTTP {
		t.Errorf("auto with plain-text gRPC on the gRPC port picked %s, want http", auto.Protocol())
	} else if err := roundTrip(ctx, auto); err != nil {
		t.Errorf("auto fell back to HTTPS but: %v", err)
	}
}

// TestTLSServerName: a certificate for a DNS name only is refused at the
// server's IP address, with a hint, and accepted with that name as the
// server name, over gRPC and HTTPS.
func TestTLSServerName(t *testing.T) {
	ctx := context.Background()
	ca := tlstest.NewCA(t, "nacos-ca")
	srv := startTLS(t, ca, false, "nacos.internal")
	for _, p := range []string{nacosclient.ProtocolGRPC, nacosclient.ProtocolHTTP} {
		o := nacosclient.Options{Server: "https://" + srv.HTTPAddr(), Protocol: p, GRPCPort: grpcPortOf(t, srv), TLS: nacosclient.TLSOptions{CAFile: ca.File}}
		err := func() error {
			c, err := nacosclient.New(ctx, o)
			if err != nil {
				return err
			}
			defer c.Close()
			return roundTrip(ctx, c)
		}()
		if want := "the server's certificate is for another name"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s without the server name: %v, want an error with %q", p, err, want)
		}
		o.TLS.ServerName = "nacos.internal"
		if err := roundTrip(ctx, newClient(t, o)); err != nil {
			t.Errorf("%s with the server name: %v", p, err)
		}
	}
}

// TestTLSOptions: TLS files that cannot be used are refused by New, before
// any connection, with their path; so are TLS settings for an http://
// server. The environment carries every setting.
func TestTLSOptions(t *testing.T) {
	ca := tlstest.NewCA(t, "nacos-ca")
	client := ca.Client("graylane")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	otherKey := ca.Client("other").KeyFile
	for _, tc := range []struct {
		name   string
		server string
		tls    nacosclient.TLSOptions
		want   string
	}{
		{"missing CA file", "https://127.0.0.1:1", nacosclient.TLSOptions{CAFile: missing}, "nacos TLS CA file " + missing + ": open: no such file or directory"},
		{"CA file without a certificate", "https://127.0.0.1:1", nacosclient.TLSOptions{CAFile: notPEM}, "nacos TLS CA file " + notPEM + ": no PEM certificate in it"},
		{"certificate without its key", "https://127.0.0.1:1", nacosclient.TLSOptions{CertFile: client.CertFile}, "nacos TLS certificate file " + client.CertFile + ": it needs its key file"},
		{"key without its certificate", "https://127.0.0.1:1", nacosclient.TLSOptions{KeyFile: client.KeyFile}, "nacos TLS key file " + client.KeyFile + ": it needs its certificate file"},
		{"missing key file", "https://127.0.0.1:1", nacosclient.TLSOptions{CertFile: client.CertFile, KeyFile: missing}, "nacos TLS key file " + missing + ": open: no such file or directory"},
		{"certificate not PEM", "https://127.0.0.1:1", nacosclient.TLSOptions{CertFile: notPEM, KeyFile: client.KeyFile}, "nacos TLS certificate and key files " + notPEM + ", " + client.KeyFile + ": tls: failed to find any PEM data in certificate input"},
		{"key of another certificate", "https://127.0.0.1:1", nacosclient.TLSOptions{CertFile: client.CertFile, KeyFile: otherKey}, "nacos TLS certificate and key files " + client.CertFile + ", " + otherKey + ": tls: private key does not match public key"},
		{"TLS with http://", "http://127.0.0.1:1", nacosclient.TLSOptions{CAFile: ca.File}, "nacos server http://127.0.0.1:1: TLS settings (CA file, client certificate, server name, insecure skip verify) need an https:// server"},
		{"TLS with a bare address", "127.0.0.1:1", nacosclient.TLSOptions{InsecureSkipVerify: true}, "need an https:// server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nacosclient.New(context.Background(), nacosclient.Options{Server: tc.server, Protocol: nacosclient.ProtocolHTTP, TLS: tc.tls})
			var oe *nacosclient.OptionsError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &oe) {
				t.Fatalf("New: %v, want an *OptionsError with %q", err, tc.want)
			}
			if check := tc.tls.Check(); tc.server != "http://127.0.0.1:1" && tc.server != "127.0.0.1:1" && (check == nil || check.Error() != oe.Err.Error()) {
				t.Errorf("Check = %v, want %v", check, oe.Err)
			}
		})
	}

	env := map[string]string{"GRAYLANE_NACOS_SERVER": "https://nacos:8848", "GRAYLANE_NACOS_CA_FILE": "/ca.pem", "GRAYLANE_NACOS_CERT_FILE": "/c.pem",
		"GRAYLANE_NACOS_KEY_FILE": "/k.pem", "GRAYLANE_NACOS_SERVER_NAME": "nacos.internal", "GRAYLANE_NACOS_INSECURE_SKIP_VERIFY": "true"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := nacosclient.OptionsFromEnv(lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := nacosclient.Options{Server: "https://nacos:8848", TLS: nacosclient.TLSOptions{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "nacos.internal", InsecureSkipVerify: true}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("OptionsFromEnv (-want +got):\n%s", d)
	}
	env["GRAYLANE_NACOS_INSECURE_SKIP_VERIFY"] = "maybe"
	if _, err := nacosclient.OptionsFromEnv(lookup); err == nil || !strings.Contains(err.Error(), `GRAYLANE_NACOS_INSECURE_SKIP_VERIFY="maybe": want true or false`) {
		t.Errorf("OptionsFromEnv with a bad bool: %v", err)
	}
}

// newAndRoundTrip makes a client with o and runs roundTrip on it.
func newAndRoundTrip(ctx context.Context, o nacosclient.Options) error {
	c, err := nacosclient.New(ctx, o)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(ctx, c)
}

// wantError fails the test unless err is nil (want "") or contains want.
func wantError(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want one with %q", err, want)
	}
}
