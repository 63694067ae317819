// Command graylane-gate is the Graylane gate server: `graylane-gate serve`
// runs the whitelist and lane assignment service on its SQL store
// (docs/gate.md). It is a binary of its own so that graylane does not link
// the SQL drivers (SQLite, MySQL/MariaDB, PostgreSQL: about 12 MB of the
// binary, issue #15); the gate's client commands (`graylane gate
// whitelist|lane|decide`) stay in graylane. This package only parses flags
// into gate.ServeOptions.
//
// Exit codes, as graylane's (docs/cli.md): 0 after a clean stop, 1 a
// failure while running, 2 bad input (arguments, flags, DSN, secrets).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/gate"
	"github.com/graylane/graylane/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "graylane-gate: %v\n", err)
	var in *cli.InputError
	if errors.As(err, &in) {
		return 2
	}
	return 1
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "graylane-gate",
		Short: "The Graylane gate server: whitelist and lane assignment on a SQL store",
		Long: `graylane-gate serve runs the gate: lane decisions (whitelist, then sticky
percentage bucket, then base) from SQLite, MySQL/MariaDB or PostgreSQL, signed
lane/bucket cookies, and Istio ext_authz. Manage a running gate with
graylane gate whitelist|lane|decide. See docs/gate.md.

Exit codes: 0 success, 1 failure while running, 2 bad input.`,
		Example:       "  graylane-gate serve --db sqlite:///var/lib/graylane/gate.db --admin-token-file token --cookie-key-file cookie-key",
		Version:       version.Get().Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          unknownCommand,
		RunE:          func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cli.InputError{Err: err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newServeCmd(stdout, stderr))
	return root
}

// unknownCommand is the root's argument check: a word left over is a
// command that does not exist.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return cli.InputErrorf("unknown command %q for %q; see %s --help", args[0], c.CommandPath(), c.CommandPath())
}

// inputArgs is an argument check whose errors are bad input (exit 2).
func inputArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return &cli.InputError{Err: fmt.Errorf("%s: %w", c.CommandPath(), err)}
		}
		return nil
	}
}

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var o gate.ServeOptions
	var maxAge time.Duration
	var output string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the gate HTTP server (API, /authz/ ext_authz, /metrics)",
		Long: `Runs the gate: the decision API, the /authz/ ext_authz endpoint and /metrics, on
--listen (default ` + defaultGateListen + `: this machine only; --listen :8470 or
0.0.0.0:8470 listens on every interface, as a pod behind a Service needs). The
admin token, cookie key and lane key are read and checked before the store is
opened or created.

Exit codes: 0 after a clean stop, 1 failure (the store cannot be reached, the
port is in use), 2 bad input (flags, DSN, missing or short secrets).`,
		Example: `  graylane-gate serve --db sqlite:///var/lib/graylane/gate.db \
      --admin-token-file /etc/graylane/token --cookie-key-file /etc/graylane/cookie-key
  graylane-gate serve --listen :8470 --db mysql://gate:secret@db:3306/gate --open-read`,
		Args: inputArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cli.CheckFormat(output); err != nil {
				return err
			}
			if err := cli.CheckListen("--listen", o.Listen); err != nil {
				return err
			}
			o.Cookie.MaxAge = maxAge
			if o.WriteCheckInterval == 0 {
				o.WriteCheckInterval = -1 // --write-check-interval 0: off
			}
			o.Ready = func(addr string) { cli.PrintListening(stdout, output, addr) }
			err := gate.Serve(cmd.Context(), o, slog.New(slog.NewTextHandler(stderr, nil)))
			var ce *gate.ConfigError
			if errors.As(err, &ce) {
				return &cli.InputError{Err: err}
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.DSN, "db", "sqlite:///var/lib/graylane/gate.db", "store DSN: sqlite:///PATH, mysql://USER:PASS@HOST:PORT/DB or postgres://USER:PASS@HOST:PORT/DB")
	f.StringVar(&o.Listen, "listen", defaultGateListen, "HTTP listen address HOST:PORT (:8470 listens on every interface)")
	f.StringVarP(&output, "output", "o", "text", "how to print the listening address once serving: text, json or yaml")
	f.StringVar(&o.AdminTokenFile, "admin-token-file", "", "file holding the admin bearer token (default: env "+gate.EnvAdminToken+")")
	f.StringVar(&o.CookieKeyFile, "cookie-key-file", "", "file holding the cookie HMAC key, >= 32 bytes (default: env "+gate.EnvCookieKey+")")
	f.StringVar(&o.LaneKeyFile, "lane-key-file", "", "file holding the lane key: ext_authz accepts lane headers signed with it (graylane lane sign; default: env "+gate.EnvLaneKey+", else none)")
	f.BoolVar(&o.OpenRead, "open-read", false, "serve the read-only endpoints (decide, whitelist and lane listing, snapshot) without a token")
	f.StringVar(&o.Identity.UserHeader, "user-header", "x-user-id", "request header with the user id (empty: off)")
	f.StringVar(&o.Identity.TenantHeader, "tenant-header", "x-tenant-id", "request header with the tenant id (empty: off)")
	f.StringVar(&o.Identity.UserCookie, "user-cookie", "", "cookie with the user id (empty: off)")
	f.StringVar(&o.Identity.JWTClaim, "jwt-claim", "", "claim of the Istio-verified JWT payload with the user id, e.g. sub (empty: off)")
	f.StringVar(&o.Identity.JWTPayloadHeader, "jwt-payload-header", "x-jwt-payload", "header where Istio's RequestAuthentication puts the JWT payload (outputPayloadToHeader)")
	f.StringVar(&o.Identity.LaneHeader, "lane-header", "x-graylane", "header /authz/ sets to the lane")
	f.DurationVar(&maxAge, "cookie-max-age", 24*time.Hour, "Max-Age of the issued cookies")
	f.BoolVar(&o.Cookie.Secure, "cookie-secure", true, "mark issued cookies Secure")
	f.StringVar(&o.Cookie.Domain, "cookie-domain", "", "Domain of the issued cookies")
	f.StringVar(&o.Cookie.LaneName, "lane-cookie", "graylane-lane", "name of the lane cookie")
	f.StringVar(&o.Cookie.BucketName, "bucket-cookie", "graylane-bucket", "name of the bucket cookie")
	f.DurationVar(&o.PollInterval, "poll-interval", 200*time.Millisecond, "how often to poll the store's change counter")
	f.DurationVar(&o.WriteCheckInterval, "write-check-interval", 5*time.Second, "how often to prove the store takes writes (a health write; 0: off)")
	return c
}

// defaultGateListen is where `gate serve` listens unless told: loopback.
const defaultGateListen = "127.0.0.1:8470"
