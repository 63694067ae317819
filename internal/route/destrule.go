package route

import (
	"fmt"
	"sort"
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
	order   int
}

// drIndex finds the DestinationRule that applies to a host.
type drIndex struct {
	byHost map[string][]*drUnit // exact hosts
	wild   []*drUnit            // wildcard hosts
}

func newDRIndex(in []DestinationRule, fs *findings) *drIndex {
	idx := &drIndex{byHost: map[string][]*drUnit{}}
	for i, d := range in {
		if d.Object == nil {
			continue
		}
		o := d.Object
		u := &drUnit{obj: o, meta: meta("DestinationRule", &o.ObjectMeta, d.Locate), ns: namespaceOf(&o.ObjectMeta),
			subsets: map[string]map[string]string{}, order: i}
		if o.Spec.GetHost() == "" {
			fs.add(Error, u.meta, "spec.host", "rejected: host is required")
			continue
		}
		u.host = ResolveHost(o.Spec.GetHost(), u.ns)
		for j, s := range o.Spec.GetSubsets() {
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
		if strings.HasPrefix(u.host, "*") {
			idx.wild = append(idx.wild, u)
		} else {
			idx.byHost[u.host] = append(idx.byHost[u.host], u)
		}
	}
	return idx
}

// lookup returns the DestinationRules that apply to host, seen from a
// route written in routeNS. Istio picks by the caller's namespace first,
// then the Service's namespace, then the root namespace; a compiler that
// does not know the caller uses the Service's namespace, then routeNS,
// then istio-system, then any other. Rules of the chosen namespace are
// merged (first subset of a name wins).
func (idx *drIndex) lookup(host, routeNS string) (chosen []*drUnit, others []*drUnit) {
	cands := idx.byHost[host]
	if len(cands) == 0 {
		best := ""
		for _, u := range idx.wild {
			if wildcardMatch(u.host, host) && len(u.host) > len(best) {
				best = u.host
			}
		}
		for _, u := range idx.wild {
			if u.host == best {
				cands = append(cands, u)
			}
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	_, svcNS, _ := ServiceOf(host)
	rank := func(ns string) int {
		switch ns {
		case svcNS:
			return 0
		case routeNS:
			return 1
		case "istio-system":
			return 2
		}
		return 3
	}
	sorted := append([]*drUnit(nil), cands...)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i].ns) < rank(sorted[j].ns) })
	for _, u := range sorted {
		if u.ns == sorted[0].ns {
			chosen = append(chosen, u)
		} else {
			others = append(others, u)
		}
	}
	return chosen, others
}

// subset resolves a subset name in the chosen rules.
func subsetLabels(rules []*drUnit, name string) (map[string]string, *drUnit) {
	for _, u := range rules {
		if l, ok := u.subsets[name]; ok {
			return l, u
		}
	}
	return nil, nil
}
