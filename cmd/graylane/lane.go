package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/lane"
	"github.com/graylane/graylane/internal/localapi"
)

func newLaneCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "lane",
		Short: "Watch and drive full-link lanes run by `graylane up` (--local); sign lane headers",
		Long: `A Lane (graylane.io/v1alpha1) keeps a request on the lane versions of every member
service along the whole call chain. With a plan, the lane's weight moves through
steps, every member's lane version is judged against its stable version, and all
members are promoted or rolled back together. Each command says what it did; one
that would change nothing (abort or retry on a Promoted lane, ...) is refused with
the reason (the runtime answers 409 Conflict). See docs/lanes.md.

Exit codes: 0 success (with --wait: Promoted), 1 failure (with --wait: Aborted),
2 bad input.`,
		Example: `  graylane lane list --local
  graylane lane promote gray -n shop --local
  graylane lane get gray -n shop --local --wait      # exit 0 when Promoted, 1 when Aborted
  graylane lane sign gray --key-file lane.key --ttl 8h`,
	}
	for _, action := range []struct{ use, short, example string }{
		{"get NAME", "Show a lane (--wait blocks until Promoted or Aborted)",
			"  graylane lane get gray -n shop --local\n  graylane lane get gray -n shop --local --wait --timeout 1h   # exit 0 Promoted, 1 Aborted"},
		{"promote NAME", "Leave the current pause or step (--full: promote every member now)",
			"  graylane lane promote gray -n shop --local\n  graylane lane promote gray -n shop --local --full"},
		{"abort NAME", "Roll every member back to stable", "  graylane lane abort gray -n shop --local"},
		{"retry NAME", "Start an aborted lane plan again from its first step", "  graylane lane retry gray -n shop --local --wait"},
		{"pause NAME", "Pause a lane plan", "  graylane lane pause gray -n shop --local"},
		{"resume NAME", "Resume a paused lane plan", "  graylane lane resume gray -n shop --local"},
		{"list", "List lanes", "  graylane lane list --local\n  graylane lane list --local --admin 127.0.0.1:15000 -o json"},
	} {
		c := laneAction(stdout, action.use, action.short)
		c.Example = action.example
		root.AddCommand(c)
	}
	root.AddCommand(laneSignCmd(stdout))
	return root
}

const (
	laneExitCodes = `Exit codes: 0 success (with --wait: Promoted), 1 failure (with --wait: the lane
ended Aborted), 2 bad input (no --local, a bad --admin, an answer 4xx of the
runtime, e.g. an unknown lane).`
	laneOnCluster = "on a cluster, graylane apply installs a lane's routing, its plan runs in graylane up only (set the gate's lane weight instead: graylane gate lane set LANE WEIGHT)"
)

func laneAction(stdout io.Writer, use, short string) *cobra.Command {
	var o localapi.LaneOptions
	var local bool
	c, action := actionCmd(use, short, func(cmd *cobra.Command, action, lane string) error {
		o.Action, o.Name, o.Notes = action, lane, cmd.ErrOrStderr()
		return localapi.Lane(cmd.Context(), o, stdout)
	})
	f := c.Flags()
	if action == "list" {
		f.StringVarP(&o.Namespace, "namespace", "n", "", "only the Lanes of this namespace (default: every namespace)")
	} else {
		f.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of the Lane")
	}
	if action == "promote" {
		f.BoolVar(&o.Full, "full", false, "skip every remaining step and analysis: promote all members now")
	}
	c.Long = short + ".\n\n" + laneExitCodes
	if action != "list" {
		f.BoolVar(&o.Wait, "wait", false, "block until the lane is Promoted (exit 0) or Aborted (exit 1)")
		f.DurationVar(&o.Timeout, "timeout", 0, "with --wait: give up after this long (default 30m)")
	} else {
		c.Long = "Lists the lanes of a running graylane up with their phase, weight, plan step,\nmembers and fallback.\n\n" + localExitCodes
	}
	addLocalFlags(c, &local, &o.Admin, laneOnCluster)
	addOutputFlag(c, &o.Output)
	return c
}

// signedHeader is the output of `graylane lane sign`.
type signedHeader struct {
	Header  string    `json:"header"`
	Value   string    `json:"value"`
	Expires time.Time `json:"expires"`
}

func laneSignCmd(stdout io.Writer) *cobra.Command {
	var keyFile, header, output string
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "sign LANE --key-file FILE",
		Short: "Print a signed lane header value that the edge lets into the lane",
		Long: `Lane headers that arrive at a gateway from outside are removed, unless signed
with the edge's lane key (graylane up --lane-key-file). The value is
LANE.EXPIRES.SIG, SIG = base64url(HMAC-SHA256(key, "graylane-lane-header-v1|" +
LANE + "|" + EXPIRES + "|")), unpadded. LANE is the lane's name, checked as Lane
validation checks metadata.name: a DNS label, never "base".

Exit codes: 0 printed, 2 bad input (lane name, key file, --ttl, --output).`,
		Example: `  graylane lane sign gray --key-file lane.key --ttl 8h
  curl -H "x-graylane: $(graylane lane sign gray --key-file lane.key)" http://127.0.0.1:8080/`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, a []string) error {
			if err := cli.CheckFormat(output); err != nil {
				return err
			}
			if msgs := v1alpha1.ValidateLaneName(a[0]); len(msgs) > 0 {
				return &cli.InputError{Err: fmt.Errorf("lane name %q: %s", a[0], strings.Join(msgs, "; "))}
			}
			key, err := readLaneKey(keyFile)
			if err != nil {
				return err
			}
			if ttl <= 0 {
				return &cli.InputError{Err: fmt.Errorf("--ttl %s: want a positive duration", ttl)}
			}
			exp := time.Now().Add(ttl).Truncate(time.Second)
			out := signedHeader{Header: header, Value: lane.Sign(key, a[0], exp), Expires: exp.UTC()}
			return cli.Write(stdout, output, out, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, out.Value)
				return err
			})
		},
	}
	f := c.Flags()
	f.StringVar(&keyFile, "key-file", "", "file holding the lane key (required)")
	f.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the value is valid")
	f.StringVar(&header, "header", "x-graylane", "the lane header's name (shown in -o json|yaml)")
	addOutputFlag(c, &output)
	return c
}

// readLaneKey reads a lane key file: at least 16 bytes, surrounding
// whitespace removed.
func readLaneKey(path string) ([]byte, error) {
	if path == "" {
		return nil, &cli.InputError{Err: fmt.Errorf("--key-file is required")}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &cli.InputError{Err: fmt.Errorf("lane key: %w", err)}
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) < 16 {
		return nil, &cli.InputError{Err: fmt.Errorf("lane key %s: want at least 16 bytes, got %d", path, len(key))}
	}
	return key, nil
}
