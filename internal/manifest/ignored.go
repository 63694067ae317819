package manifest

import (
	"slices"
	"strings"
)

// What a command does with the objects it reads, for the warnings about
// the documents it leaves out ("... is not evaluated by graylane route").
const (
	DoingRoute    = "evaluated by graylane route"
	DoingSimulate = "evaluated by graylane simulate"
	DoingLint     = "checked by graylane lint"
	DoingRender   = "read by graylane render"
	DoingConvert  = "converted by graylane convert"
	DoingUp       = "run by graylane up"
	DoingNacos    = "read by graylane nacos scan"
)

// IgnoredWarnings returns one located warning per document of a kind the
// loader does not decode (Set.Ignored), in load order, such as
// "shop.yaml:12: apps/v1 StatefulSet shop/db is not evaluated by graylane
// route", with a "did you mean" for a near miss of a known kind (a typo in
// the kind, its case, or a known kind under a wrong apiVersion). doing says
// what the command does (one of the Doing constants); documents for which
// reads is true are left out (a command that reads them itself); reads may
// be nil. The Spring Boot configuration files a folder walk skipped
// (Set.Skipped) are named last.
func (s *Set) IgnoredWarnings(doing string, reads func(*Object) bool) []string {
	var out []string
	for _, o := range s.Ignored {
		if reads != nil && reads(o) {
			continue
		}
		w := o.Pos.String() + ": " + o.APIVersion + " " + o.Kind + " " + writtenName(o) + " is not " + doing
		if hint := Suggest(o.APIVersion, o.Kind); hint != "" {
			w += "; did you mean " + hint + "?"
		}
		out = append(out, w)
	}
	for _, f := range s.Skipped {
		out = append(out, f+": Spring Boot configuration (no apiVersion or kind), not a manifest: skipped")
	}
	return out
}

// writtenName is "namespace/name" when the document gives a namespace,
// else "name" (the loader cannot tell whether an unknown kind has one).
func writtenName(o *Object) string {
	if md, ok := o.Raw["metadata"].(map[string]any); ok {
		if ns, ok := md["namespace"].(string); ok && ns != "" {
			return ns + "/" + o.Name
		}
	}
	return o.Name
}

// legacyGroups are groups that once served a kind the loader knows under
// another group today.
var legacyGroups = map[string]string{"extensions": "apps"}

// Suggest returns the known apiVersion and kind a document of an unknown
// apiVersion and kind most likely meant, such as "networking.istio.io/v1
// VirtualService", or "" when it is not a near miss. A near miss is a known
// kind with another version of its group, a kind that differs in case or by
// at most two letters within a known group, or a known kind under a group
// with a typo, an old group (extensions), or no group at all. A kind of
// another product that happens to share a name (appmesh.k8s.aws
// VirtualService, gateway.networking.k8s.io Gateway) is not a near miss.
func Suggest(apiVersion, kind string) string {
	group, version := splitAPIVersion(apiVersion)
	best, bestScore := "", 0
	for _, gk := range sortedKinds() {
		info := kinds[gk]
		kindScore := kindDistance(kind, gk.kind)
		if kindScore < 0 {
			continue
		}
		groupScore := groupDistance(group, gk.group, kind == gk.kind)
		if groupScore < 0 || (kindScore == 0 && groupScore == 0 && slices.Contains(info.versions, version)) {
			continue
		}
		v := version
		if !slices.Contains(info.versions, v) {
			v = info.versions[len(info.versions)-1]
		}
		score := 1 + kindScore + groupScore
		if best == "" || score < bestScore {
			best, bestScore = joinAPIVersion(gk.group, v)+" "+gk.kind, score
		}
	}
	return best
}

func sortedKinds() []groupKind {
	out := make([]groupKind, 0, len(kinds))
	for gk := range kinds {
		out = append(out, gk)
	}
	slices.SortFunc(out, func(a, b groupKind) int {
		if c := strings.Compare(a.group, b.group); c != 0 {
			return c
		}
		return strings.Compare(a.kind, b.kind)
	})
	return out
}

func joinAPIVersion(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}

// kindDistance is 0 for the same kind, 1 for another case, 1 + the edit
// distance for up to two edits (kinds of four letters or more), -1 else.
func kindDistance(got, known string) int {
	switch {
	case got == known:
		return 0
	case strings.EqualFold(got, known):
		return 1
	case len(got) < 4:
		return -1
	}
	if d := editDistance(strings.ToLower(got), strings.ToLower(known)); d <= 2 {
		return 1 + d
	}
	return -1
}

// groupDistance is 0 for the same group, the edit distance for a typo (up
// to two edits), 1 for a legacy group or, when the kind is exactly a known
// one, for no group; -1 else.
func groupDistance(got, known string, sameKind bool) int {
	switch {
	case got == known:
		return 0
	case legacyGroups[got] == known:
		return 1
	case got == "" && sameKind:
		return 1
	case got == "" || known == "":
		return -1
	}
	if d := editDistance(got, known); d <= 2 {
		return d
	}
	return -1
}

// editDistance is the Levenshtein distance of two strings.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
