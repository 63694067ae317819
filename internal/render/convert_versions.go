package render

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graylane/graylane/internal/manifest"
	"github.com/graylane/graylane/internal/route"
)

// group is the Deployments of one service: behind the same Service of the
// input or, without one, with the same app label and distinct version labels.
type group struct {
	svc     *corev1.Service // the callers' Service; nil: none in the input
	shared  string          // "Service appa": what the members share, for errors
	members []source        // by name
}

// groupDeployments groups the Deployments (sorted by namespace and name)
// by service; groups come in the order of their first Deployment.
func groupDeployments(srcs []source, svcs []*corev1.Service) []*group {
	index := map[string]*group{}
	var out []*group
	for _, s := range srcs {
		svc := callersService(s.dep, svcs)
		var key, shared string
		switch app := s.dep.Spec.Template.Labels["app"]; {
		case svc != nil:
			key, shared = "service/"+svc.Name, "Service "+svc.Name
		case app != "":
			key, shared = "app/"+app, "app label "+app+" (and no Service of the input selects them)"
		default:
			key = "deployment/" + s.dep.Name
		}
		key = s.dep.Namespace + "/" + key
		g := index[key]
		if g == nil {
			g = &group{svc: svc, shared: shared}
			index[key] = g
			out = append(out, g)
		}
		g.members = append(g.members, s)
	}
	// Without a Service, an app label is only a guess at a service: its
	// Deployments are versions when their version labels say so, else
	// each is a service of its own (as a Deployment with a Service is).
	var split []*group
	for _, g := range out {
		if g.svc != nil || len(g.members) == 1 || distinctVersions(g.members) {
			split = append(split, g)
			continue
		}
		for _, s := range g.members {
			split = append(split, &group{members: []source{s}})
		}
	}
	return split
}

// distinctVersions reports whether every Deployment's pods have a version
// label, each a different one.
func distinctVersions(ss []source) bool {
	seen := map[string]bool{}
	for _, s := range ss {
		v := s.dep.Spec.Template.Labels[VersionLabel]
		if v == "" || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

// versionsHint is the way out of Deployments that are not versions.
const versionsHint = "the Deployments behind one Service become one Rollout, one Deployment per version: give each version's pod template a distinct version label, or give each Deployment its own Service in the input"

// fromVersions makes the one unit of a service deployed as one Deployment
// per version (seed 004): the Rollout selects the labels the Deployments'
// selectors have in common (without version) and has the canary version's
// pod template (the stable's with FirstApply); the judge compares the
// versions. Deployments that are not versions of one service (no or the
// same version label, different app labels) are an error.
func fromVersions(g *group, o ConvertOptions, used map[string]bool) (unit, ConvertedService, error) {
	byVersion, err := versionsOf(g)
	if err != nil {
		return unit{}, ConvertedService{}, err
	}
	first := g.members[0]
	ns := first.dep.Namespace
	if o.WorkloadRef {
		return unit{}, ConvertedService{}, first.errorf("", "it shares %s with %s: they are the versions of one service, and a Rollout references one Deployment: convert them without --workload-ref", g.shared, deploymentNames(g.members[1:]))
	}
	common := maps.Clone(first.dep.Spec.Selector.MatchLabels)
	for _, s := range g.members[1:] {
		keepCommon(common, s.dep.Spec.Selector.MatchLabels)
	}
	delete(common, VersionLabel)
	if len(common) == 0 {
		return unit{}, ConvertedService{}, first.errorf("spec.selector", "its selector and that of %s have no label in common but %s: the Rollout of the service selects the pods of every version; add a common label such as app to each selector", deploymentNames(g.members[1:]), VersionLabel)
	}
	// Without a Service the group is the pods of one app label.
	name, host := first.dep.Spec.Template.Labels["app"], ""
	if g.svc != nil {
		host = g.svc.Name
	}
	name = cmp.Or(name, host)
	host = cmp.Or(host, name)
	versions := slices.Sorted(maps.Keys(byVersion))
	SortVersions(versions)
	names := []string{name, host, ns + "/" + name, ns + "/" + host}
	canary, err := choose("--canary-version", o.Canary, used, names, versions, "")
	if err != nil {
		return unit{}, ConvertedService{}, err
	}
	stable, err := choose("--stable-version", o.Stable, used, names, versions, canary)
	if err != nil {
		return unit{}, ConvertedService{}, err
	}
	c, s := byVersion[canary], byVersion[stable]
	t := c
	if o.FirstApply {
		t = s
	}
	labels, annotations := maps.Clone(c.dep.Labels), maps.Clone(c.dep.Annotations)
	keepCommon(labels, s.dep.Labels)
	keepCommon(annotations, s.dep.Annotations)
	u := unit{
		name: name, namespace: ns, selector: common,
		replicas: maxReplicas(c.dep.Spec.Replicas, s.dep.Spec.Replicas),
		template: t.dep.Spec.Template.DeepCopy(),
		meta:     metav1.ObjectMeta{Labels: nilIfEmpty(labels), Annotations: workloadAnnotations(annotations)},
		judge:    true,
	}
	if err := u.setService(g.svc, &t.dep.Spec.Template, t); err != nil {
		return unit{}, ConvertedService{}, err
	}
	cs := ConvertedService{
		Namespace: ns, Rollout: name, Service: u.host(), Template: t.dep.Name,
		Deployments: []string{c.dep.Name, s.dep.Name},
		Canary:      &ConvertedVersion{canary, c.dep.Name},
		Stable:      &ConvertedVersion{stable, s.dep.Name},
	}
	slices.Sort(cs.Deployments)
	for _, v := range versions {
		if v != canary && v != stable {
			cs.NotConverted = append(cs.NotConverted, ConvertedVersion{v, byVersion[v].dep.Name})
		}
	}
	return u, cs, nil
}

// versionsOf maps each version of a group to its Deployment, or says why
// the group's Deployments are not the versions of one service.
func versionsOf(g *group) (map[string]source, error) {
	var errs []error
	for _, s := range g.members {
		if err := checkSelector(s); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	first := g.members[0]
	app := first.dep.Spec.Template.Labels["app"]
	byVersion := map[string]source{}
	for i, s := range g.members {
		other := first
		if i == 0 {
			other = g.members[1]
		}
		l := s.dep.Spec.Template.Labels
		v := l[VersionLabel]
		switch prev, dup := byVersion[v]; {
		case l["app"] != app:
			errs = append(errs, s.errorf("spec.template.metadata.labels.app", "app %q, but %s (%s), which shares %s with it, is app %q: they are different services; give each its own Service in the input", l["app"], first.ref(), first.obj.Pos, g.shared, app))
		case v == "":
			errs = append(errs, s.errorf("spec.template.metadata.labels", "its pod template has no %s label, and %s (%s) shares %s with it: %s", VersionLabel, other.ref(), other.obj.Pos, g.shared, versionsHint))
		case dup:
			errs = append(errs, s.errorf("spec.template.metadata.labels."+VersionLabel, "%s %q, the same as %s (%s), which shares %s with it: %s", VersionLabel, v, prev.ref(), prev.obj.Pos, g.shared, versionsHint))
		default:
			byVersion[v] = s
		}
	}
	return byVersion, errors.Join(errs...)
}

// choose returns the version a flag's choices pick for a service known by
// names (the most specific choice: NAMESPACE/NAME before NAME before all),
// else the highest of versions that is not except.
func choose(flag string, choices []VersionChoice, used map[string]bool, names, versions []string, except string) (string, error) {
	best, rank := -1, -1
	for i, c := range choices {
		r := -1
		switch {
		case c.Service == "":
			r = 0
		case slices.Contains(names[:2], c.Service):
			r = 1
		case slices.Contains(names[2:], c.Service):
			r = 2
		}
		if r < 0 {
			continue
		}
		used[fmt.Sprintf("%s#%d", flag, i)] = true // applies here, if overridden
		if r >= rank {
			best, rank = i, r
		}
	}
	if best < 0 {
		for i := len(versions) - 1; i >= 0; i-- {
			if versions[i] != except {
				return versions[i], nil
			}
		}
		return "", nil // not reached: a group has two versions
	}
	c := choices[best]
	switch {
	case !slices.Contains(versions, c.Version):
		return "", fmt.Errorf("%s %s: service %s has no version %q (its versions: %s)", flag, c, names[2], c.Version, strings.Join(versions, ", "))
	case c.Version == except:
		return "", fmt.Errorf("%s %s: version %s of service %s is its canary: the stable must be another version (%s)", flag, c, c.Version, names[2], strings.Join(versions, ", "))
	}
	return c.Version, nil
}

// unusedChoices reports version choices that named no service with one
// Deployment per version.
func unusedChoices(o ConvertOptions, used map[string]bool) []error {
	var errs []error
	for _, f := range []struct {
		flag    string
		choices []VersionChoice
	}{{"--canary-version", o.Canary}, {"--stable-version", o.Stable}} {
		for i, c := range f.choices {
			if used[fmt.Sprintf("%s#%d", f.flag, i)] {
				continue
			}
			what := "no service of the input"
			if c.Service != "" {
				what = "no service " + c.Service
			}
			errs = append(errs, fmt.Errorf("%s %s: %s has one Deployment per version (versions are told apart by the pods' %s label)", f.flag, c, what, VersionLabel))
		}
	}
	return errs
}

// keepCommon deletes from m the entries other does not have the same.
func keepCommon(m, other map[string]string) {
	for k, v := range m {
		if w, ok := other[k]; !ok || w != v {
			delete(m, k)
		}
	}
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// maxReplicas is the larger replica count (unset is 1, the Kubernetes
// default): neither version serves with fewer pods than it had.
func maxReplicas(a, b *int32) *int32 {
	n := max(replicasOf(a), replicasOf(b))
	return &n
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func deploymentNames(ss []source) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.ref()
	}
	return strings.Join(names, ", ")
}

// superseded lists the input's VirtualServices and DestinationRules for
// the callers' Services of converted services: the generated routing
// replaces them.
func superseded(set *manifest.Set, svcs []ConvertedService) []string {
	hosts := map[string]bool{}
	for _, cs := range svcs {
		hosts[cs.Service+"."+cs.Namespace+"."+route.ClusterDomain] = true
	}
	is := func(host, ns string) bool { return hosts[route.ResolveHost(host, ns)] }
	var out []string
	for _, o := range set.Objects {
		hit := false
		switch t := o.Typed.(type) {
		case *networkingv1.DestinationRule:
			hit = is(t.Spec.Host, o.Namespace)
		case *networkingv1.VirtualService:
			hit = slices.ContainsFunc(t.Spec.Hosts, func(h string) bool { return is(h, o.Namespace) })
			for _, h := range t.Spec.Http {
				for _, d := range h.Route {
					hit = hit || (d.Destination != nil && is(d.Destination.Host, o.Namespace))
				}
			}
		}
		if hit {
			out = append(out, fmt.Sprintf("%s (%s)", o.Ref(), o.Pos))
		}
	}
	return out
}
