package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/nacosserver"
)

// Environment variables `nacos serve` reads credentials from when the flags
// are not given.
const (
	envNacosUsername = "GRAYLANE_NACOS_USERNAME"
	envNacosPassword = "GRAYLANE_NACOS_PASSWORD"
)

func newNacosCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "nacos",
		Short: "Nacos: a local Nacos-compatible registry and config center; the calls that bypass the mesh",
		Long: `Nacos support (docs/nacos.md). "graylane nacos serve" runs a Nacos-compatible
service registry and configuration center in memory, for apps built on the
official Nacos clients. "graylane nacos scan" finds the Nacos clients that call
pod IPs instead of Services (bypassing the mesh); "graylane nacos fix" points
them at the Services in one shared Spring configuration.`,
		Example: "  graylane nacos serve\n  graylane nacos serve --addr 127.0.0.1:8848 --username nacos --password nacos\n  graylane nacos scan -f k8s/ --server http://nacos:8848",
	}
	c.AddCommand(newNacosServeCmd(stdout, stderr))
	c.AddCommand(newNacosScanCmd(stdout, stderr), newNacosFixCmd(stdout, stderr))
	return c
}

// nacosServeOptions are the flags of `nacos serve`.
type nacosServeOptions struct {
	addr, username, password, output string
	// tlsCert, tlsKey, clientCA: TLS mode (nacosserver.LoadTLS).
	tlsCert, tlsKey, clientCA string
}

func newNacosServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var o nacosServeOptions
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve a Nacos-compatible registry and config center from memory",
		Long: `Serves the Nacos v1 HTTP Open API (naming, config, long-polling listeners,
login) on --addr and the Nacos 2.x gRPC protocol on its port + 1000, as a
Nacos server does, from memory: a restart forgets every instance and
configuration. With --username (or ` + envNacosUsername + `) every call
but login needs the access token login returns; the password comes from
--password or ` + envNacosPassword + `.

With --tls-cert-file and --tls-key-file both ports serve TLS (HTTPS and
gRPC over TLS, as a Nacos with TLS on its SDK port does); with
--tls-client-ca-file too, every client must show a certificate that CA
signed (mutual TLS).

Exit codes: 0 after a clean stop, 1 failure (a port in use), 2 bad input
(flags, a certificate or key file that cannot be read).`,
		Example: `  graylane nacos serve
  graylane nacos serve --addr 127.0.0.1:8848 --username nacos --password nacos -o json
  graylane nacos serve --tls-cert-file nacos.pem --tls-key-file nacos-key.pem --tls-client-ca-file clients-ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cli.CheckFormat(o.output); err != nil {
				return err
			}
			if err := checkNacosAddr("--addr", o.addr); err != nil {
				return err
			}
			if o.username == "" {
				o.username = os.Getenv(envNacosUsername)
			}
			if o.password == "" {
				o.password = os.Getenv(envNacosPassword)
			}
			if o.username != "" && o.password == "" {
				return cli.InputErrorf("--username %q needs --password (or %s)", o.username, envNacosPassword)
			}
			tlsConfig, err := o.tls()
			if err != nil {
				return err
			}
			srv, err := nacosserver.Start(cmd.Context(), nacosserver.Options{
				Addr: o.addr, Username: o.username, Password: o.password, TLS: tlsConfig,
				Logger: slog.New(slog.NewTextHandler(stderr, nil)),
			})
			if err != nil {
				return err
			}
			printNacosListening(stdout, o.output, srv)
			<-cmd.Context().Done()
			return srv.Close()
		},
	}
	f := c.Flags()
	f.StringVar(&o.addr, "addr", nacosserver.DefaultAddr, "HTTP listen address HOST:PORT; gRPC listens on PORT+1000")
	f.StringVar(&o.username, "username", "", "turn auth on with this user (default: env "+envNacosUsername+", else auth off)")
	f.StringVar(&o.password, "password", "", "the user's password (default: env "+envNacosPassword+")")
	f.StringVar(&o.tlsCert, "tls-cert-file", "", "serve HTTPS and gRPC over TLS with this certificate (chain) PEM file (needs --tls-key-file)")
	f.StringVar(&o.tlsKey, "tls-key-file", "", "the TLS certificate's key PEM file")
	f.StringVar(&o.clientCA, "tls-client-ca-file", "", "with TLS: require client certificates signed by a CA of this PEM file (mutual TLS)")
	f.StringVarP(&o.output, "output", "o", "text", "how to print the listening addresses once serving: text, json or yaml")
	return c
}

// tls is the server's TLS configuration from the flags, nil without them.
func (o nacosServeOptions) tls() (*tls.Config, error) {
	if o.tlsCert == "" && o.tlsKey == "" && o.clientCA == "" {
		return nil, nil
	}
	c, err := nacosserver.LoadTLS(o.tlsCert, o.tlsKey, o.clientCA)
	if err != nil {
		return nil, &cli.InputError{Err: err}
	}
	return c, nil
}

// printNacosListening prints where the server listens: text, or
// {"listen": "http://ADDR", "grpc": "ADDR"} as JSON or YAML.
func printNacosListening(w io.Writer, format string, srv *nacosserver.Server) {
	info := map[string]string{"listen": srv.URL(), "grpc": srv.GRPCAddr()}
	grpcTLS := ""
	if srv.TLS() {
		grpcTLS = " over TLS"
	}
	_ = cli.Write(w, format, info, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "listening: %s (gRPC%s %s)\n", srv.URL(), grpcTLS, srv.GRPCAddr())
		return err
	})
}

// checkNacosAddr checks a Nacos listen address: host:port with room for
// gRPC on the port + nacosserver.GRPCPortOffset.
func checkNacosAddr(flag, addr string) error {
	if err := checkListen(flag, addr); err != nil {
		return err
	}
	if _, port, _ := net.SplitHostPort(addr); port != "" {
		if p, _ := strconv.Atoi(port); p > 65535-nacosserver.GRPCPortOffset {
			return cli.InputErrorf("%s %q: port %d leaves no room for gRPC on port + %d; want at most %d", flag, addr, p, nacosserver.GRPCPortOffset, 65535-nacosserver.GRPCPortOffset)
		}
	}
	return nil
}
