package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/tlstest"
)

// startNacosServe runs `graylane nacos serve` with args and returns its
// printed addresses ({"listen", "grpc"}); it stops with the test.
func startNacosServe(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"nacos", "serve", "--addr", "127.0.0.1:0", "-o", "json"}, args...), pw, &stderr)
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("nacos serve exited %d: %s", code, stderr.String())
		}
	})
	started := make(chan map[string]string, 1)
	go func() {
		var info map[string]string
		if err := json.NewDecoder(pr).Decode(&info); err != nil {
			info = map[string]string{"error": err.Error()}
		}
		started <- info
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case info := <-started:
		return info
	case <-time.After(2 * time.Minute):
		t.Fatalf("nacos serve printed nothing: %s", stderr.String())
		return nil
	}
}

// TestNacosTLSEndToEnd runs `graylane nacos serve` in mutual TLS mode and
// `nacos scan` and `nacos fix` against it with the TLS flags (and the
// environment) over gRPC, HTTPS and auto: the bypass is found and fixed;
// no client certificate or a CA that did not sign the server's is exit 1
// with the cause, a TLS file that cannot be read exit 2 with its path.
func TestNacosTLSEndToEnd(t *testing.T) {
	ca, other := tlstest.NewCA(t, "nacos-ca"), tlstest.NewCA(t, "other-ca")
	server, client := ca.Server("nacos", "127.0.0.1"), ca.Client("graylane")
	info := startNacosServe(t, "--tls-cert-file", server.CertFile, "--tls-key-file", server.KeyFile, "--tls-client-ca-file", ca.File)
	base := info["listen"]
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("start message = %v, want listen https://127.0.0.1:PORT", info)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client.Cert}}}}
	resp, err := hc.PostForm(base+"/nacos/v1/ns/instance",
		url.Values{"serviceName": {"order-service"}, "ip": {"10.1.0.5"}, "port": {"8082"}, "ephemeral": {"false"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	dir := t.TempDir()
	shop := filepath.Join(dir, "shop.yaml")
	if err := os.WriteFile(shop, []byte(nacosShop), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, k := range []string{nacosclient.EnvServer, nacosclient.EnvCAFile, nacosclient.EnvCertFile, nacosclient.EnvKeyFile, nacosclient.EnvServerName, nacosclient.EnvInsecureSkipVerify} {
		t.Setenv(k, "")
	}
	mtls := []string{"--server", base, "--ca-file", ca.File, "--cert-file", client.CertFile, "--key-file", client.KeyFile}
	steps := []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{append([]string{"nacos", "scan", "-f", shop, "--protocol", "grpc"}, mtls...), nil, 1, "bypass: any Nacos client of order-service"},
		{append([]string{"nacos", "scan", "-f", shop, "--protocol", "http"}, mtls...), nil, 1, "bypass: any Nacos client of order-service"},
		{append([]string{"nacos", "scan", "-f", shop, "--protocol", "grpc", "--server", base, "--insecure-skip-verify"}, mtls[4:]...), nil, 1, "bypass: any Nacos client of order-service"},
		{append([]string{"nacos", "fix", "-f", shop}, mtls...), nil, 0, "published, 3 properties set"},
		{[]string{"nacos", "scan", "-f", shop, "-o", "json"}, map[string]string{nacosclient.EnvServer: base, nacosclient.EnvCAFile: ca.File,
			nacosclient.EnvCertFile: client.CertFile, nacosclient.EnvKeyFile: client.KeyFile}, 0, `"findings": []`},
		{[]string{"nacos", "scan", "-f", shop, "--server", base, "--ca-file", ca.File}, nil, 1, "requires a client certificate it trusts (mutual TLS)"},
		{[]string{"nacos", "scan", "-f", shop, "--protocol", "grpc", "--server", base, "--ca-file", other.File, "--cert-file", client.CertFile, "--key-file", client.KeyFile}, nil, 1, "signed by an unknown authority"},
		{[]string{"nacos", "fix", "-f", shop, "--server", base, "--ca-file", other.File, "--cert-file", client.CertFile, "--key-file", client.KeyFile}, nil, 1, "signed by an unknown authority"},
		{[]string{"nacos", "scan", "-f", shop, "--server", base, "--ca-file", missing}, nil, 2, "nacos TLS CA file " + missing + ": open: no such file or directory"},
		{[]string{"nacos", "scan", "-f", shop, "--server", base}, map[string]string{nacosclient.EnvCertFile: missing, nacosclient.EnvKeyFile: client.KeyFile}, 2, "nacos TLS certificate file " + missing},
		{[]string{"nacos", "scan", "-f", shop, "--server", base}, map[string]string{nacosclient.EnvInsecureSkipVerify: "maybe"}, 2, "GRAYLANE_NACOS_INSECURE_SKIP_VERIFY"},
		{[]string{"nacos", "scan", "-f", shop, "--server", "http" + strings.TrimPrefix(base, "https"), "--ca-file", ca.File}, nil, 2, "need an https:// server"},
	}
	for _, s := range steps {
		for k, v := range s.env {
			t.Setenv(k, v)
		}
		var out bytes.Buffer
		if code := run(context.Background(), s.args, &out, &out); code != s.code || !strings.Contains(out.String(), s.want) {
			t.Errorf("graylane %s (env %v): exit %d, want %d with %q:\n%s", strings.Join(s.args, " "), s.env, code, s.code, s.want, out.String())
		}
		for k := range s.env {
			t.Setenv(k, "")
		}
	}
}

// TestNacosTLSBadInput: the TLS flags of every command that takes a Nacos
// server are checked before anything starts (exit 2, the path or the
// missing piece in the message).
func TestNacosTLSBadInput(t *testing.T) {
	t.Setenv("GRAYLANE_ADMIN", "")
	for _, k := range []string{nacosclient.EnvServer, nacosclient.EnvCAFile, nacosclient.EnvCertFile, nacosclient.EnvKeyFile, nacosclient.EnvServerName, nacosclient.EnvInsecureSkipVerify} {
		t.Setenv(k, "")
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nacos", "scan", "--local", "--ca-file", missing}, "nacos TLS CA file " + missing},
		{[]string{"nacos", "fix", "--local", "--server", "https://nacos:8848", "--cert-file", "c.pem"}, "nacos TLS certificate file c.pem: it needs its key file"},
		{[]string{"nacos", "fix", "--local", "--server", "http://nacos:8848", "--insecure-skip-verify"}, "--server: nacos server http://nacos:8848: TLS settings"},
		{[]string{"up", "--nacos-ca-file", missing}, "nacos TLS CA file " + missing},
		{[]string{"up", "--nacos-server-name", "nacos.internal"}, "need an https:// --nacos-server"},
		{[]string{"apply", "-f", "../../examples/seed004", "--nacos-ca-file", "ca.pem"}, "--nacos-ca-file needs --wait"},
		{[]string{"apply", "-f", "../../examples/seed004", "--wait", "--nacos-server", "https://nacos:8848", "--nacos-key-file", "k.pem"}, "nacos TLS key file k.pem: it needs its certificate file"},
		{[]string{"apply", "-f", "../../examples/seed004", "--wait", "--nacos-server", "http://nacos:8848", "--nacos-ca-file", "../../go.mod"}, "nacos TLS CA file ../../go.mod: no PEM certificate in it"},
		{[]string{"nacos", "serve", "--tls-cert-file", "c.pem"}, "a certificate file needs its key file"},
		{[]string{"nacos", "serve", "--tls-cert-file", missing, "--tls-key-file", missing}, "nacos TLS certificate " + missing},
	} {
		var out bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &out); code != 2 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("graylane %s: exit %d, want 2 with %q:\n%s", strings.Join(tc.args, " "), code, tc.want, out.String())
		}
	}
}

// TestCanaryNacosTLSOptions: the --nacos-* TLS flags of up and apply win
// over their GRAYLANE_NACOS_* variables, which fill what the flags leave.
func TestCanaryNacosTLSOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want nacosclient.TLSOptions
	}{
		{nil, map[string]string{nacosclient.EnvCAFile: "/env/ca.pem", nacosclient.EnvInsecureSkipVerify: "true"},
			nacosclient.TLSOptions{CAFile: "/env/ca.pem", InsecureSkipVerify: true}},
		{[]string{"--nacos-ca-file", "/flag/ca.pem", "--nacos-insecure-skip-verify=false", "--nacos-cert-file", "c.pem", "--nacos-key-file", "k.pem", "--nacos-server-name", "n"},
			map[string]string{nacosclient.EnvCAFile: "/env/ca.pem", nacosclient.EnvInsecureSkipVerify: "true", nacosclient.EnvServerName: "env"},
			nacosclient.TLSOptions{CAFile: "/flag/ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "n"}},
	} {
		for _, k := range []string{nacosclient.EnvCAFile, nacosclient.EnvCertFile, nacosclient.EnvKeyFile, nacosclient.EnvServerName, nacosclient.EnvInsecureSkipVerify} {
			t.Setenv(k, tc.env[k])
		}
		var o canaryNacosFlags
		f := pflag.NewFlagSet("test", pflag.ContinueOnError)
		o.add(f, nacosclient.DefaultServer)
		if err := f.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, o.options().TLS); d != "" {
			t.Errorf("%v with %v (-want +got):\n%s", tc.args, tc.env, d)
		}
	}
}

// canaryNacosFlagNames names every flag canaryNacosFlags.add adds: apply
// refuses each without --wait, and with --local.
func TestCanaryNacosFlagNames(t *testing.T) {
	var o canaryNacosFlags
	f := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.add(f, nacosclient.DefaultServer)
	var added []string
	f.VisitAll(func(fl *pflag.Flag) { added = append(added, fl.Name) })
	if d := cmp.Diff(added, slices.Sorted(slices.Values(canaryNacosFlagNames))); d != "" {
		t.Errorf("flags added (-) and named (+):\n%s", d)
	}
}
