package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/graylane/graylane/internal/inspect"
	"github.com/graylane/graylane/internal/localapi"
)

var errNotLocal = &inspect.InputError{Err: errors.New("only --local (a running `graylane up`) is supported so far; applying to Kubernetes comes with the Kubernetes output")}

func newApplyCmd(stdout io.Writer) *cobra.Command {
	var o localapi.ApplyOptions
	var local bool
	c := &cobra.Command{
		Use:   "apply -f PATH... --local [--admin ADDR]",
		Short: "Apply manifests to a running `graylane up`, like kubectl apply",
		Long: `Validates the manifests here (errors name file and line), then sends them to the
embedded runtime's admin API: the same object applied again replaces the earlier
one; routing changes take effect for new requests at once, changed workloads are
replaced once their new replicas are ready.`,
		Example: `  graylane apply -f examples/seed004-headers/ --local`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return localapi.Apply(cmd.Context(), o, stdout)
		},
	}
	c.Flags().StringArrayVarP(&o.Files, "filename", "f", nil, "manifest file or folder (repeatable)")
	addLocalFlags(c, &local, &o.Admin)
	addOutputFlag(c, &o.Output)
	return c
}

func newGetCmd(stdout io.Writer) *cobra.Command {
	var o localapi.GetOptions
	var local bool
	c := &cobra.Command{
		Use:       "get workloads|services|routes --local [--admin ADDR]",
		Short:     "List what a running `graylane up` runs",
		Example:   "  graylane get workloads --local\n  graylane get routes --local -o json",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"workloads", "services", "routes"},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kind = args[0]
			return localapi.Get(cmd.Context(), o, stdout)
		},
	}
	addLocalFlags(c, &local, &o.Admin)
	addOutputFlag(c, &o.Output)
	return c
}

// addLocalFlags adds --local and --admin; the command refuses to run
// without --local (the Kubernetes side is not there yet).
func addLocalFlags(c *cobra.Command, local *bool, admin *string) {
	c.PreRunE = func(*cobra.Command, []string) error {
		if !*local {
			return errNotLocal
		}
		return nil
	}
	c.Flags().BoolVar(local, "local", false, "talk to the embedded runtime (`graylane up`)")
	c.Flags().StringVar(admin, "admin", "", "admin address of `graylane up` (default $GRAYLANE_ADMIN or "+localapi.DefaultAdmin+")")
}
