package canaryconfig

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/graylane/graylane/api/v1alpha1"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/springprops"
)

// ConfigStore reads and writes configurations of one Nacos namespace;
// *nacosclient.Client is one.
type ConfigStore interface {
	// GetConfig reads a configuration; one that does not exist is
	// nacosclient.ErrNotFound.
	GetConfig(ctx context.Context, dataID, group string) (nacosclient.Config, error)
	// PublishConfig writes content; with casMD5 set only if the stored
	// configuration's md5 is casMD5 (else nacosclient.ErrConflict).
	PublishConfig(ctx context.Context, dataID, group, content, typ, casMD5 string) error
	// Close releases the store's connections; whoever connected closes it.
	Close() error
}

// Connect opens the ConfigStore of a Nacos namespace id ("": the
// publisher's own); the caller closes it.
type Connect func(ctx context.Context, namespace string) (ConfigStore, error)

// NacosConnect connects with nacosclient: base's server, credentials and
// namespace, the namespace replaced by the one a canaryConfig names.
func NacosConnect(base nacosclient.Options) Connect {
	return func(ctx context.Context, namespace string) (ConfigStore, error) {
		o := base
		if namespace != "" {
			o.Namespace = namespace
		}
		c, err := nacosclient.New(ctx, o)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// MaxAttempts is how often Publish reads, merges and writes before it
// gives up on a configuration that keeps changing under it.
const MaxAttempts = 5

// ErrKeepsChanging: every attempt of Publish found the configuration
// changed by somebody else between its read and its write.
var ErrKeepsChanging = errors.New("the configuration changed between every read and write")

// Result is what Publish did.
type Result struct {
	DataID, Group string
	// Changed: the configuration was written; false when every property
	// already had its value (publishing again changes nothing).
	Changed bool
	// Created: the configuration did not exist before.
	Created bool
	// Attempts is the number of read-merge-write rounds (more than one
	// when a concurrent edit was found and kept).
	Attempts int
	// MD5 is the md5 of the configuration's content now.
	MD5 string
}

// String says what happened, for events: "published 2 properties to
// nacos order.yaml (group DEFAULT_GROUP)" or "... already there".
func (r Result) String() string {
	switch {
	case !r.Changed:
		return fmt.Sprintf("nacos %s (group %s) already holds the properties: nothing to publish", r.DataID, r.Group)
	case r.Created:
		return fmt.Sprintf("published to nacos %s (group %s), created (md5 %s)", r.DataID, r.Group, r.MD5)
	}
	return fmt.Sprintf("published to nacos %s (group %s) (md5 %s, %d attempt(s))", r.DataID, r.Group, r.MD5, r.Attempts)
}

// Publish writes c's properties into the Nacos configuration c names,
// keeping everything else of it (springprops.Set in the format of the data
// id's extension), with compare-and-swap on the md5 it read: when somebody
// else changed the configuration in between, it reads it again and merges
// again, so their edit is kept, at most MaxAttempts times (waiting
// RetryDelay, then twice as long, ... between rounds). A configuration
// that does not exist is created (compare-and-swap on the md5 of the empty
// content, so that one created concurrently is read and merged, not
// overwritten). When every property already has its value nothing is
// written. c must be defaulted and have a nacos target.
func Publish(ctx context.Context, store ConfigStore, c *v1alpha1.CanaryConfig) (Result, error) {
	if c.Nacos == nil {
		return Result{}, errors.New("canary configuration without a nacos target")
	}
	n := c.Nacos
	res := Result{DataID: n.DataID, Group: n.Group}
	format := springprops.FormatOf(n.DataID)
	if format == "" {
		return res, fmt.Errorf("nacos data id %s: want the extension .yaml, .yml or .properties (the format to write)", n.DataID)
	}
	set := make(map[string]*string, len(c.Properties))
	for _, k := range slices.Sorted(maps.Keys(c.Properties)) {
		v := c.Properties[k]
		set[k] = &v
	}
	for res.Attempts < MaxAttempts {
		if res.Attempts > 0 {
			if err := backOff(ctx, res.Attempts); err != nil {
				return res, err
			}
		}
		res.Attempts++
		cur, err := store.GetConfig(ctx, n.DataID, n.Group)
		exists := err == nil
		if err != nil && !errors.Is(err, nacosclient.ErrNotFound) {
			return res, err
		}
		if !exists {
			// Nacos creates a missing configuration whatever casMd5 says
			// (ConfigController.publishConfig -> insertOrUpdateCas), and
			// compares it with the stored md5 when there is one: the md5 of
			// "" refuses a configuration created since the read.
			cur = nacosclient.Config{MD5: nacosclient.MD5("")}
		}
		out, err := springprops.Set([]byte(cur.Content), format, set)
		if err != nil {
			return res, fmt.Errorf("nacos %s (group %s): %w", n.DataID, n.Group, err)
		}
		if exists && string(out) == cur.Content {
			res.MD5 = cur.MD5
			return res, nil
		}
		err = store.PublishConfig(ctx, n.DataID, n.Group, string(out), format, cur.MD5)
		if errors.Is(err, nacosclient.ErrConflict) {
			continue
		}
		if err != nil {
			return res, err
		}
		res.Changed, res.Created, res.MD5 = true, !exists, nacosclient.MD5(string(out))
		return res, nil
	}
	return res, fmt.Errorf("nacos %s (group %s): %d attempts: %w", n.DataID, n.Group, res.Attempts, ErrKeepsChanging)
}

// RetryDelay is the wait before the second attempt of Publish; the n-th
// waits n times as long, so that the rounds of a contended publish are
// spread out: a burst of edits by somebody else can settle, and the reads
// of one data id stay under the rate Nacos' own clients allow themselves
// (nacos-sdk-go v2.3.2 clients/config_client/limiter.go: 5 per second per
// data id).
const RetryDelay = 200 * time.Millisecond

func backOff(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(attempt) * RetryDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
