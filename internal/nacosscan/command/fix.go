package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/graylane/graylane/internal/cli"
	"github.com/graylane/graylane/internal/nacosclient"
	"github.com/graylane/graylane/internal/nacosscan"
	"github.com/graylane/graylane/internal/render"
	"github.com/graylane/graylane/internal/springprops"
)

// Defaults of FixOptions.
const (
	DefaultServiceEntryNamespace = "default"
	// casAttempts is how often fix reads, merges and publishes again
	// when the configuration changed in between.
	casAttempts = 5
	// casBackoff times the attempt number is the wait before the next.
	casBackoff = 250 * time.Millisecond
)

// FixOptions are the inputs of fix.
type FixOptions struct {
	Options
	// DryRun prints what would change and changes nothing.
	DryRun bool
	// ServiceEntries, when set, is the file the ServiceEntries are
	// written to; ServiceEntryNamespace is their namespace.
	ServiceEntries, ServiceEntryNamespace string
	// ApplyServiceEntries applies them where the Kubernetes side was read:
	// the cluster (server-side apply, field manager "graylane") or, with
	// Local, the running `graylane up`. Not with Files.
	ApplyServiceEntries bool

	// beforePublish, when set, runs after each read of the configuration
	// and before its publish (tests make a concurrent edit there).
	beforePublish func(attempt int)
	// beforeDelete, when set, runs after the ServiceEntries are applied
	// and before the stale ones are deleted (tests take one over there).
	beforeDelete func()
}

// configStore is what fix needs of Nacos's configuration (a
// *nacosclient.Client).
type configStore interface {
	GetConfig(ctx context.Context, dataID, group string) (nacosclient.Config, error)
	PublishConfig(ctx context.Context, dataID, group, content, typ, casMD5 string) error
	Namespace() string
}

// FixResult is what fix did (the JSON/YAML output).
type FixResult struct {
	DataID    string `json:"dataId"`
	Group     string `json:"group"`
	Namespace string `json:"namespace"`
	// Changes are the properties whose value changes, key → new value;
	// Old their previous values (absent: new).
	Changes map[string]string `json:"changes"`
	Old     map[string]string `json:"old,omitempty"`
	// Unchanged: the configuration already says all of it.
	Unchanged bool `json:"unchanged"`
	DryRun    bool `json:"dryRun"`
	// Published: the new content is stored; MD5 is its md5 (the stored
	// one when unchanged).
	Published bool   `json:"published"`
	MD5       string `json:"md5,omitempty"`
	// Attempts counts the compare-and-swap publishes.
	Attempts       int                          `json:"attempts,omitempty"`
	Conflicts      []nacosscan.Conflict         `json:"conflicts,omitempty"`
	ServiceEntries []*networkingv1.ServiceEntry `json:"serviceEntries"`
	// ServiceEntriesFile is where they were written.
	ServiceEntriesFile string `json:"serviceEntriesFile,omitempty"`
	// StaleServiceEntries are the ServiceEntries an earlier fix made for
	// a service of the Nacos namespace and groups this run read, held by
	// the Kubernetes side (cluster, runtime or manifests), that this run
	// does not make (no ServiceEntry of the same namespace and name):
	// their hosts still resolve to addresses Nacos no longer lists.
	StaleServiceEntries []nacosscan.StaleEntry `json:"staleServiceEntries"`
	// ServiceEntriesApplied is what applying them did, one per
	// ServiceEntry, then one per stale ServiceEntry deleted (with
	// --apply-service-entries).
	ServiceEntriesApplied []EntryResult `json:"serviceEntriesApplied,omitempty"`
	// NotFixed are the findings fix has nothing for (missing-from-nacos,
	// pods without a Service).
	NotFixed []nacosscan.Finding `json:"notFixed"`
}

// ConflictError: some Nacos service names map to several Services, so
// the one shared configuration cannot point them anywhere (exit code 1).
type ConflictError struct{ Services []string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("Nacos services %s map to several Kubernetes Services: point their clients by hand", strings.Join(e.Services, ", "))
}

// Fix scans, then publishes the Spring properties that point every
// bypassing client at its Service into the shared configuration (merged
// into what is there, compare-and-swap), and prints or writes the
// ServiceEntries of the Nacos services outside the cluster. With DryRun
// it prints the same and changes nothing.
func Fix(ctx context.Context, o FixOptions, stdout, stderr io.Writer) error {
	if o.ServiceEntryNamespace == "" {
		o.ServiceEntryNamespace = DefaultServiceEntryNamespace
	}
	if err := o.checkApplyEntries(); err != nil {
		return err
	}
	src, err := read(ctx, &o.Options, func(s string) { fmt.Fprintf(stderr, "warning: %s\n", s) })
	if err != nil {
		return err
	}
	defer src.close()
	// The ServiceEntries fix made before are computed again from Nacos
	// (they follow its instances), not taken as covering their services;
	// they settle only nacos-only findings of services outside the
	// cluster, which fix turns into ServiceEntries, never into properties
	// or what it cannot fix.
	fs := nacosscan.Scan(nacosscan.Unmanaged(src.snap))
	props, conflicts := nacosscan.Properties(fs)
	res := &FixResult{DataID: o.DataID, Group: o.ConfigGroup, DryRun: o.DryRun, Conflicts: conflicts,
		ServiceEntries: nacosscan.ServiceEntries(fs, o.ServiceEntryNamespace), NotFixed: []nacosscan.Finding{}}
	for _, f := range fs {
		if f.Kind == nacosscan.KindMissing || (f.Kind == nacosscan.KindNacosOnly && !f.External) {
			res.NotFixed = append(res.NotFixed, f)
		}
	}
	if err := publish(ctx, src.nacos, src.shared, &o, props, res); err != nil {
		return err
	}
	res.StaleServiceEntries = nacosscan.Stale(src.snap.ServiceEntries, res.ServiceEntries, res.Namespace, o.groups())
	seYAML, err := encodeEntries(res.ServiceEntries)
	if err != nil {
		return err
	}
	if o.ServiceEntries != "" && !o.DryRun && len(res.ServiceEntries) > 0 {
		if err := os.WriteFile(o.ServiceEntries, seYAML, 0o644); err != nil {
			return fmt.Errorf("write --service-entries: %w", err)
		}
		res.ServiceEntriesFile = o.ServiceEntries
	}
	var applyErr error
	if o.ApplyServiceEntries {
		res.ServiceEntriesApplied, applyErr = applyEntries(ctx, &o, res.ServiceEntries, res.StaleServiceEntries)
	}
	if err := cli.Write(stdout, o.Output, res, func(w io.Writer) error { return fixText(w, res, seYAML, &o) }); err != nil {
		return err
	}
	if applyErr != nil {
		return applyErr
	}
	if len(conflicts) > 0 {
		var names []string
		for _, c := range conflicts {
			names = append(names, c.Service)
		}
		return &ConflictError{Services: names}
	}
	return nil
}

// publish merges props into the configuration (first as scan read it,
// shared, nil when it did not exist) and stores it with
// compare-and-swap on the md5 it read; when another writer changed it in
// between, it reads again and merges again, so a concurrent edit is
// kept, up to casAttempts times, waiting a little longer each time. A configuration that does not exist yet
// is created with the new content's own md5 as the expected one: Nacos
// creates a missing configuration whatever casMd5 says, and refuses the
// write when another writer created it first with other content.
func publish(ctx context.Context, store configStore, shared *nacosclient.Config, o *FixOptions, props map[string]string, res *FixResult) error {
	res.Namespace = store.Namespace()
	if res.Namespace == "" {
		res.Namespace = "public"
	}
	format := springprops.FormatOf(o.DataID)
	set := map[string]*string{}
	for k, v := range props {
		set[k] = &v
	}
	for attempt := 1; ; attempt++ {
		cur, err := nacosclient.Config{}, error(nacosclient.ErrNotFound)
		switch {
		case attempt > 1:
			cur, err = store.GetConfig(ctx, o.DataID, o.ConfigGroup)
		case shared != nil:
			cur, err = *shared, nil
		}
		exists := err == nil
		if err != nil && !errors.Is(err, nacosclient.ErrNotFound) {
			return err
		}
		next, err := springprops.Set([]byte(cur.Content), format, set)
		if err != nil {
			return fmt.Errorf("%s (group %s) as it is in Nacos: %w", o.DataID, o.ConfigGroup, err)
		}
		if err := diff(cur.Content, format, props, res); err != nil {
			return fmt.Errorf("%s (group %s) as it is in Nacos: %w", o.DataID, o.ConfigGroup, err)
		}
		res.Unchanged = string(next) == cur.Content && (exists || len(props) == 0)
		if res.Unchanged || o.DryRun {
			res.MD5 = cur.MD5
			return nil
		}
		if o.beforePublish != nil {
			o.beforePublish(attempt)
		}
		cas := cur.MD5
		if !exists {
			cas = nacosclient.MD5(string(next))
		}
		res.Attempts = attempt
		err = store.PublishConfig(ctx, o.DataID, o.ConfigGroup, string(next), format, cas)
		if err == nil {
			res.Published, res.MD5 = true, nacosclient.MD5(string(next))
			return nil
		}
		if !errors.Is(err, nacosclient.ErrConflict) || attempt >= casAttempts {
			return err
		}
		// Let the other writer finish.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * casBackoff):
		}
	}
}

// diff fills res.Changes and res.Old: the properties whose value in
// content is not the one props sets.
func diff(content, format string, props map[string]string, res *FixResult) error {
	old := map[string]string{}
	if strings.TrimSpace(content) != "" {
		var err error
		if old, err = springprops.Parse([]byte(content), format); err != nil {
			return err
		}
	}
	canon := map[string]string{}
	for k, v := range old {
		canon[springprops.Canonical(k)] = v
	}
	res.Changes, res.Old = map[string]string{}, map[string]string{}
	for k, v := range props {
		was, ok := canon[springprops.Canonical(k)]
		if ok && was == v {
			continue
		}
		res.Changes[k] = v
		if ok {
			res.Old[k] = was
		}
	}
	return nil
}

func encodeEntries(ses []*networkingv1.ServiceEntry) ([]byte, error) {
	objs := make([]render.Object, 0, len(ses))
	for _, se := range ses {
		objs = append(objs, render.Object{APIVersion: se.APIVersion, Kind: se.Kind, Namespace: se.Namespace, Name: se.Name, Value: se})
	}
	if len(objs) == 0 {
		return nil, nil
	}
	return render.EncodeAll(objs)
}

// fixText prints what fix did for a person.
func fixText(w io.Writer, res *FixResult, seYAML []byte, o *FixOptions) error {
	var b strings.Builder
	where := fmt.Sprintf("%s (group %s, namespace %s)", res.DataID, res.Group, res.Namespace)
	switch {
	case res.Unchanged && res.MD5 == "":
		fmt.Fprintf(&b, "%s: nothing to set, not created\n", where)
	case res.Unchanged:
		fmt.Fprintf(&b, "%s: unchanged (md5 %s)\n", where, res.MD5)
	case res.DryRun:
		fmt.Fprintf(&b, "%s: would set %d properties (dry run, nothing changed)\n", where, len(res.Changes))
	default:
		fmt.Fprintf(&b, "%s: published, %d properties set (md5 %s)\n", where, len(res.Changes), res.MD5)
	}
	for _, k := range slices.Sorted(maps.Keys(res.Changes)) {
		if old, ok := res.Old[k]; ok {
			fmt.Fprintf(&b, "  ~ %s: %s -> %s\n", k, old, res.Changes[k])
		} else {
			fmt.Fprintf(&b, "  + %s: %s\n", k, res.Changes[k])
		}
	}
	if len(res.Changes) > 0 || res.MD5 != "" {
		fmt.Fprintf(&b, "apps read it with: spring.config.import: optional:nacos:%s?group=%s&refreshEnabled=true\n", res.DataID, res.Group)
	}
	for _, c := range res.Conflicts {
		fmt.Fprintf(&b, "not fixed: Nacos service %s maps to %s\n", c.Service, strings.Join(c.URLs, " and "))
	}
	for _, f := range res.NotFixed {
		fmt.Fprintf(&b, "not fixed: %s\n", f)
	}
	dry := ""
	if res.DryRun {
		dry = " (dry run)"
	}
	for _, a := range res.ServiceEntriesApplied {
		if !deleteAction(a.Action) {
			fmt.Fprintf(&b, "ServiceEntry %s/%s: %s%s\n", a.Namespace, a.Name, a.Action, dry)
		}
	}
	staleText(&b, res, o)
	if len(res.ServiceEntries) > 0 && res.ServiceEntriesFile != "" {
		fmt.Fprintf(&b, "ServiceEntries (%d) written to %s\n", len(res.ServiceEntries), res.ServiceEntriesFile)
	}
	switch {
	case len(res.ServiceEntries) == 0, res.ServiceEntriesFile != "" && res.ServiceEntriesApplied == nil:
	case res.ServiceEntriesApplied != nil:
		if len(res.ServiceEntriesApplied) == 0 && res.DryRun {
			fmt.Fprintf(&b, "ServiceEntries (%d): not applied (dry run)\n", len(res.ServiceEntries))
		}
	default:
		fmt.Fprintf(&b, "ServiceEntries (%d) for the Nacos services outside the cluster (kubectl apply -f them):\n---\n%s", len(res.ServiceEntries), seYAML)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func deleteAction(action string) bool {
	return action == EntryDeleted || action == EntryKept || action == EntryGone
}

// staleText prints a line per stale ServiceEntry: what deleting it did,
// or how to delete it.
func staleText(b *strings.Builder, res *FixResult, o *FixOptions) {
	done := map[string]EntryResult{}
	for _, a := range res.ServiceEntriesApplied {
		if deleteAction(a.Action) {
			done[a.Namespace+"/"+a.Name] = a
		}
	}
	for _, se := range res.StaleServiceEntries {
		ref := se.Namespace + "/" + se.Name
		fmt.Fprintf(b, "stale: ServiceEntry %s (Nacos %s), which fix no longer makes: ", ref, se.NacosService)
		a, applied := done[ref]
		const still = "its host still resolves to the old addresses; "
		switch {
		case applied && a.Message != "":
			fmt.Fprintf(b, "%s, %s", a.Action, a.Message)
		case applied:
			b.WriteString(a.Action)
		case o.ApplyServiceEntries && o.DryRun && o.Local:
			b.WriteString("not deleted (dry run; the runtime has none: nothing sent)")
		case o.Local:
			b.WriteString(still + "delete it by running fix again with --apply-service-entries")
		case len(o.Files) > 0:
			fmt.Fprintf(b, still+"remove it from %s, and where it is applied: kubectl delete serviceentry -n %s %s", se.Where, se.Namespace, se.Name)
		default:
			fmt.Fprintf(b, still+"delete it with kubectl delete serviceentry -n %s %s, or run fix again with --apply-service-entries", se.Namespace, se.Name)
		}
		if applied && res.DryRun {
			b.WriteString(" (dry run)")
		}
		b.WriteString("\n")
	}
}
