package route

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// drUnit is a DestinationRule being compiled.
type drUnit struct {
	obj     *networkingv1.DestinationRule
	meta    *objMeta
	ns      string
	host    string // resolved
	subsets map[string]map[string]string
	vis     visibility
}

// drBucket holds DestinationRules by host, oldest first: exact hosts and
// wildcards.
type drBucket struct {
	exact map[string][]*drUnit
	wild  []*drUnit
}

func (b *drBucket) add(u *drUnit) {
	if strings.HasPrefix(u.host, "*") {
		b.wild = append(b.wild, u)
		return
	}
	if b.exact == nil {
		b.exact = map[string][]*drUnit{}
	}
	b.exact[u.host] = append(b.exact[u.host], u)
}

// match is istiod's MostSpecificHostMatch: the rules for the exact host,
// else those of the longest wildcard that covers it.
func (b *drBucket) match(host string) []*drUnit {
	if b == nil {
		return nil
	}
	if us := b.exact[host]; len(us) > 0 {
		return us
	}
	best := ""
	for _, u := range b.wild {
		if wildcardMatch(u.host, host) && len(u.host) > len(best) {
			best = u.host
		}
	}
	var out []*drUnit
	for _, u := range b.wild {
		if u.host == best {
			out = append(out, u)
		}
	}
	return out
}

// drIndex finds the DestinationRules that apply to a host for a caller,
// indexed as istiod's setDestinationRules does.
type drIndex struct {
	// local: by namespace, the rules a caller of that namespace sees
	// first (rules of the namespace that are visible in it).
	local map[string]*drBucket
	// exported: by namespace, the rules visible outside it.
	exported map[string]*drBucket
	// rootLocal: rules of the root namespace visible only there.
	rootLocal *drBucket
	// special are the namespaces whose callers may see other rules than
	// a caller of any other namespace: those that hold rules, those that
	// rules are exported to by name, and the root namespace.
	special map[string]bool
	all     []*drUnit
	// selected are the rules with a workloadSelector, which Graylane
	// does not evaluate.
	selected []*drUnit
}

func newDRIndex(in []DestinationRule, fs *findings) *drIndex {
	idx := &drIndex{local: map[string]*drBucket{}, exported: map[string]*drBucket{}, rootLocal: &drBucket{},
		special: map[string]bool{RootNamespace: true}}
	for _, d := range in {
		if d.Object == nil {
			continue
		}
		o := d.Object
		u := &drUnit{obj: o, meta: meta("DestinationRule", &o.ObjectMeta, d.Locate), ns: namespaceOf(&o.ObjectMeta),
			subsets: map[string]map[string]string{}}
		rejected := false
		reject := func(path, format string, args ...any) {
			fs.add(Error, u.meta, path, "rejected: "+format, args...)
			rejected = true
		}
		if o.Spec.GetHost() == "" {
			reject("spec.host", "host is required")
		}
		u.vis = parseExportTo(o.Spec.GetExportTo(), u.ns, exportConfig, reject)
		if o.Spec.GetWorkloadSelector() != nil && !u.vis.only(u.ns) && len(o.Spec.GetExportTo()) > 0 {
			reject("spec.exportTo", "a DestinationRule with a workloadSelector cannot be exported beyond its namespace")
		}
		if rejected {
			continue
		}
		u.host = ResolveHost(o.Spec.GetHost(), u.ns)
		u.readSubsets(fs)
		if o.Spec.GetWorkloadSelector() != nil {
			// It applies to the selected callers' sidecars only.
			idx.selected = append(idx.selected, u)
			continue
		}
		idx.add(u)
	}
	return idx
}

func (u *drUnit) readSubsets(fs *findings) {
	for j, s := range u.obj.Spec.GetSubsets() {
		path := fmt.Sprintf("spec.subsets[%d]", j)
		switch {
		case s.GetName() == "":
			fs.add(Error, u.meta, path+".name", "subset name is required")
		case u.subsets[s.GetName()] != nil:
			fs.add(Warning, u.meta, path+".name", "subset %q is defined twice; the first one is used", s.GetName())
		default:
			labels := s.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			u.subsets[s.GetName()] = labels
		}
	}
}

func (idx *drIndex) add(u *drUnit) {
	idx.all = append(idx.all, u)
	idx.special[u.ns] = true
	for _, ns := range u.vis.ns {
		idx.special[ns] = true
	}
	if u.vis.visibleTo(u.ns) {
		b := idx.local[u.ns]
		if b == nil {
			b = &drBucket{}
			idx.local[u.ns] = b
		}
		b.add(u)
	}
	switch {
	case !u.vis.only(u.ns):
		b := idx.exported[u.ns]
		if b == nil {
			b = &drBucket{}
			idx.exported[u.ns] = b
		}
		b.add(u)
	case u.ns == RootNamespace:
		idx.rootLocal.add(u)
	}
}

// lookup returns the rules that apply to host for a caller in callerNS,
// as istiod's PushContext.destinationRule: the caller's namespace first
// (for a caller in the root namespace, the root's private rules), then
// the rules the Service's namespace exports to the caller, then those the
// root namespace exports. Rules found in one place are merged (the first
// subset of a name wins).
func (idx *drIndex) lookup(host, callerNS, svcNS string) []*drUnit {
	if callerNS != RootNamespace {
		if us := idx.local[callerNS].match(host); len(us) > 0 {
			return us
		}
	} else if us := idx.rootLocal.match(host); len(us) > 0 {
		return us
	}
	exportedTo := func(ns string) []*drUnit {
		var out []*drUnit
		for _, u := range idx.exported[ns].match(host) {
			if u.vis.visibleTo(callerNS) {
				out = append(out, u)
			}
		}
		return out
	}
	if svcNS != "" {
		if us := exportedTo(svcNS); len(us) > 0 {
			return us
		}
	}
	return exportedTo(RootNamespace)
}

// others lists the rules for host among list that are not in seen: to
// explain a missing subset, and rules with a workloadSelector.
func others(list []*drUnit, host string, seen []*drUnit) []*drUnit {
	var out []*drUnit
	for _, u := range list {
		if wildcardMatch(u.host, host) && !slices.Contains(seen, u) {
			out = append(out, u)
		}
	}
	return out
}

// subsetLabels resolves a subset name in the chosen rules.
func subsetLabels(rules []*drUnit, name string) (map[string]string, *drUnit) {
	for _, u := range rules {
		if l, ok := u.subsets[name]; ok {
			return l, u
		}
	}
	return nil, nil
}

func (u *drUnit) key() string { return u.ns + "/" + u.obj.Name }
