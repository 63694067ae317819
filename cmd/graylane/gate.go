package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/gateclient"
)

// newGateCmd is `graylane gate`: the client commands of the whitelist and
// lane assignment service. The server is the graylane-gate binary
// (cmd/graylane-gate), which links the SQL drivers graylane does without.
func newGateCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "gate",
		Short: "Manage a running gate: whitelist, lane weights, decide (the server is graylane-gate serve)",
		Long: `The gate decides which lane a caller belongs to (whitelist, then sticky
percentage bucket, then base), issues signed lane/bucket cookies for an auth
center, and answers Istio ext_authz checks with the x-graylane header. These
commands talk to a running gate; the gate server itself is the separate
graylane-gate binary (graylane-gate serve), built and installed beside graylane
(make build), so that graylane does not carry the SQL drivers. See docs/gate.md.

Exit codes: 0 success, 1 failure (the gate cannot be reached or answers 5xx, the
store fails), 2 bad input (arguments, flags, secrets, a 4xx answer of the gate).`,
		Example: `  graylane-gate serve --db sqlite:///var/lib/graylane/gate.db --admin-token-file token --cookie-key-file cookie-key
  graylane gate lane set v2 10 --token-file token
  graylane gate decide --user alice --token-file token`,
	}
	cl := &gateClientOptions{}
	wl := &cobra.Command{Use: "whitelist", Short: "Manage whitelist entries on a running gate",
		Example: "  graylane gate whitelist add user alice v2 --token-file token\n  graylane gate whitelist ls --lane v2 --token-file token"}
	wl.AddCommand(newGateWhitelistAddCmd(stdout, cl), newGateWhitelistRmCmd(stdout, cl),
		newGateWhitelistLsCmd(stdout, cl), newGateWhitelistImportCmd(stdout, cl))
	lane := &cobra.Command{Use: "lane", Short: "Manage lane weights on a running gate",
		Example: "  graylane gate lane set v2 10 --token-file token\n  graylane gate lane ls --server http://gate.example:8470 --token-file token"}
	lane.AddCommand(newGateLaneSetCmd(stdout, cl), newGateLaneRmCmd(stdout, cl), newGateLaneLsCmd(stdout, cl))
	decide := newGateDecideCmd(stdout, cl)
	c.AddCommand(wl, lane, decide)
	for _, sub := range []*cobra.Command{wl, lane, decide} {
		addGateClientFlags(sub, cl)
	}
	// `graylane gate serve` was the server until it moved to graylane-gate:
	// say where it went, for the unknown command and for its flags.
	c.Annotations = map[string]string{hintAnnotation + "serve": gateServeMoved}
	c.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if args := c.Flags().Args(); len(args) > 0 && args[0] == "serve" {
			err = fmt.Errorf("%w; %s", err, gateServeMoved)
		}
		return &cli.InputError{Err: err}
	})
	return c
}

// gateServeMoved is the hint for `graylane gate serve`.
const gateServeMoved = "the gate server is the graylane-gate binary: run graylane-gate serve with the same flags (docs/gate.md)"

// gateClientOptions are the flags of the commands that talk to a running
// gate.
type gateClientOptions struct {
	server, token, tokenFile, output string
}

func addGateClientFlags(c *cobra.Command, o *gateClientOptions) {
	f := c.PersistentFlags()
	f.StringVar(&o.server, "server", "http://127.0.0.1:8470", "URL of the running gate")
	f.StringVar(&o.token, "token", "", "admin bearer token (default: --token-file, then env GRAYLANE_GATE_TOKEN)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
}

// client checks the output format and --server and builds the API client.
func (o *gateClientOptions) client() (*gateclient.Client, error) {
	if err := cli.CheckFormat(o.output); err != nil {
		return nil, err
	}
	if err := checkHTTPURL("--server", o.server); err != nil {
		return nil, err
	}
	tok := o.token
	if tok == "" && o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return nil, &cli.InputError{Err: fmt.Errorf("--token-file: %w", err)}
		}
		tok = string(trimSpace(b))
	}
	if tok == "" {
		tok = os.Getenv("GRAYLANE_GATE_TOKEN")
	}
	return &gateclient.Client{Base: o.server, Token: tok}, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// gateRun runs a client call and writes its result.
func gateRun[T any](ctx context.Context, stdout io.Writer, o *gateClientOptions, call func(context.Context, *gateclient.Client) (T, error), text func(io.Writer, T) error) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	v, err := call(ctx, c)
	if err != nil {
		return err // a 4xx answer (*gateclient.StatusError) is bad input: exitCode
	}
	return cli.Write(stdout, o.output, v, func(w io.Writer) error { return text(w, v) })
}

func newGateWhitelistAddCmd(stdout io.Writer, o *gateClientOptions) *cobra.Command {
	var req gateclient.EntryRequest
	var expires string
	c := &cobra.Command{
		Use:     "add KIND ID LANE",
		Short:   "Add or replace a whitelist entry (KIND is user or tenant)",
		Example: "  graylane gate whitelist add user alice v2 --note qa --expires 2030-01-01T00:00:00Z\n  graylane gate whitelist add tenant acme base --token-file token   # keep acme out of every lane",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Kind, req.ID, req.Lane = args[0], args[1], args[2]
			if expires != "" {
				t, err := time.Parse(time.RFC3339, expires)
				if err != nil {
					return &cli.InputError{Err: fmt.Errorf("--expires %q: want RFC 3339", expires)}
				}
				req.ExpiresAt = &t
			}
			return gateRun(cmd.Context(), stdout, o, func(ctx context.Context, c *gateclient.Client) (any, error) {
				return c.AddEntry(ctx, req)
			}, func(w io.Writer, _ any) error {
				_, err := fmt.Fprintf(w, "%s %s -> %s\n", req.Kind, req.ID, req.Lane)
				return err
			})
		},
	}
	c.Flags().StringVar(&req.Note, "note", "", "free-text note")
	c.Flags().StringVar(&req.CreatedBy, "created-by", "", "who adds the entry (default: api)")
	c.Flags().StringVar(&expires, "expires", "", "expiry time, RFC 3339")
	return c
}

func newGateWhitelistRmCmd(stdout io.Writer, o *gateClientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "rm KIND ID",
		Short:   "Remove a whitelist entry",
		Example: "  graylane gate whitelist rm user alice --token-file token",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return gateRun(cmd.Context(), stdout, o, func(ctx context.Context, c *gateclient.Client) (map[string]string, error) {
				return map[string]string{"deleted": args[0] + "/" + args[1]}, c.DeleteEntry(ctx, args[0], args[1])
			}, func(w io.Writer, v map[string]string) error {
				_, err := fmt.Fprintf(w, "deleted %s\n", v["deleted"])
				return err
			})
		},
	}
}

func newGateWhitelistLsCmd(stdout io.Writer, o *gateClientOptions) *cobra.Command {
	var kind, lane string
	c := &cobra.Command{
		Use:     "ls",
		Short:   "List whitelist entries",
		Example: "  graylane gate whitelist ls --token-file token\n  graylane gate whitelist ls --kind tenant --lane v2 -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return gateRun(cmd.Context(), stdout, o, func(ctx context.Context, c *gateclient.Client) (gateclient.EntryList, error) {
				return c.ListEntries(ctx, kind, lane)
			}, gateclient.WriteEntriesText)
		},
	}
	c.Flags().StringVar(&kind, "kind", "", "only this kind (user or tenant)")
	c.Flags().StringVar(&lane, "lane", "", "only this lane")
	return c
}

func newGateWhitelistImportCmd(stdout io.Writer, o *gateClientOptions) *cobra.Command {
	var createdBy string
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Import whitelist entries from CSV (kind,id,lane[,note[,expiresAt]]) in one transaction; - reads stdin",
		Example: `  graylane gate whitelist import users.csv --token-file token
  printf 'user,carol,v2,qa\n' | graylane gate whitelist import - --created-by ci`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return &cli.InputError{Err: fmt.Errorf("open CSV: %w", err)}
				}
				defer f.Close()
				in = f
			}
			return gateRun(cmd.Context(), stdout, o, func(ctx context.Context, c *gateclient.Client) (gateclient.ImportResult, error) {
				return c.Import(ctx, in, createdBy)
			}, func(w io.Writer, r gateclient.ImportResult) error {
				_, err := fmt.Fprintf(w, "imported %s (version %d)\n", count(r.Imported, "entry", "entries"), r.Version)
				return err
			})
		},
	}
	c.Flags().StringVar(&createdBy, "created-by", "", "who imports the entries (default: import)")
	return c
}

func newGateDecideCmd(stdout io.Writer, o *gateClientOptions) *cobra.Command {
	var user, tenant string
	c := &cobra.Command{
		Use:     "decide",
		Short:   "Ask a running gate for a caller's lane",
		Example: "  graylane gate decide --user alice\n  graylane gate decide --user bob --tenant acme --server http://gate.example:8470 -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" && tenant == "" {
				return &cli.InputError{Err: errors.New("give --user and/or --tenant")}
			}
			return gateRun(cmd.Context(), stdout, o, func(ctx context.Context, c *gateclient.Client) (gateclient.Decision, error) {
				return c.Decide(ctx, user, tenant)
			}, gateclient.WriteDecisionText)
		},
	}
	c.Flags().StringVar(&user, "user", "", "user id")
	c.Flags().StringVar(&tenant, "tenant", "", "tenant id")
	return c
}

func newGateLaneSetCmd(stdout io.Writer, o *gateClientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "set LANE WEIGHT",
		Short:   "Create a lane or set its bucket weight (0..100)",
		Example: "  graylane gate lane set v2 10 --token-file token   # 10% of users, sticky",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := strconv.Atoi(args[1])
			if err != nil {
				return &cli.InputError{Err: fmt.Errorf("weight %q: want an integer 0..100", args[1])}
			}
			return gateRun(cmd.Context(), stdout, o, func(ctx context.Context, c *gateclient.Client) (gateclient.LaneInfo, error) {
				return c.SetLane(ctx, args[0], w)
			}, func(w io.Writer, l gateclient.LaneInfo) error {
				_, err := fmt.Fprintf(w, "lane %s weight %d (share %d%%)\n", l.Name, l.Weight, l.Share)
				return err
			})
		},
	}
}

func newGateLaneRmCmd(stdout io.Writer, o *gateClientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "rm LANE",
		Short:   "Remove a lane (refused while whitelist entries name it)",
		Example: "  graylane gate lane rm v2 --token-file token",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return gateRun(cmd.Context(), stdout, o, func(ctx context.Context, c *gateclient.Client) (map[string]string, error) {
				return map[string]string{"deleted": "lane/" + args[0]}, c.DeleteLane(ctx, args[0])
			}, func(w io.Writer, v map[string]string) error {
				_, err := fmt.Fprintf(w, "deleted %s\n", v["deleted"])
				return err
			})
		},
	}
}

func newGateLaneLsCmd(stdout io.Writer, o *gateClientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Short:   "List lanes with weights and effective shares",
		Example: "  graylane gate lane ls\n  graylane gate lane ls -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return gateRun(cmd.Context(), stdout, o, func(ctx context.Context, c *gateclient.Client) (gateclient.LaneList, error) {
				return c.ListLanes(ctx)
			}, gateclient.WriteLanesText)
		},
	}
}

// count is "1 entry", "2 entries".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
