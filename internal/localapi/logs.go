package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/graylane/graylane/internal/adminapi"
	"github.com/graylane/graylane/internal/cli"
)

// LogsOptions are the options of `graylane logs WORKLOAD --local`.
type LogsOptions struct {
	Workload  string
	Namespace string // "": any namespace
	Replica   int    // < 0: every replica
	Tail      int    // < 0: all lines
	Follow    bool
	Admin     string
}

// Logs copies a workload's replica logs from the runtime to w; with Follow
// it streams until ctx ends or the replicas stop.
func Logs(ctx context.Context, o LogsOptions, w io.Writer) error {
	if o.Workload == "" {
		return &cli.InputError{Err: errors.New("give a workload: graylane logs WORKLOAD --local")}
	}
	c := adminapi.New(adminapi.Admin(o.Admin))
	body, err := c.Logs(ctx, adminapi.LogsRequest{Workload: o.Workload, Namespace: o.Namespace, Replica: o.Replica, Tail: o.Tail, Follow: o.Follow})
	var api *adminapi.APIError
	switch {
	case errors.As(err, &api) && api.BadInput():
		return &cli.InputError{Err: err}
	case err != nil && ctx.Err() != nil:
		return nil
	case err != nil:
		return err
	}
	defer body.Close()
	if _, err := io.Copy(w, body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read logs: %w", err)
	}
	return nil
}
