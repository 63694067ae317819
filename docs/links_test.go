package docs

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// checkLanguageLinks: each page links to its other-language version before
// its first section, as the README does.
func (c *checker) checkLanguageLinks(e, z *mdDoc) []string {
	var out []string
	for _, p := range [][2]*mdDoc{{e, z}, {z, e}} {
		from, to := p[0], p[1]
		limit := len(from.lines) + 1
		for _, h := range from.headings {
			if h.level >= 2 {
				limit = h.line
				break
			}
		}
		found := false
		for _, l := range from.links {
			if target, frag, ok := resolve(from.path, l.target); ok && target == to.path && frag == "" && l.line < limit {
				found = true
				break
			}
		}
		if !found {
			label := "中文说明"
			if from == z {
				label = "English"
			}
			out = append(out, fmt.Sprintf("%s: no link to %s before the first section: put [%s](%s) under the title",
				from.path, to.path, label, relPath(from.path, to.path)))
		}
	}
	return out
}

// checkSameLinks: the translation links to what the English page links to,
// as often, with links to translated pages pointing at the translation.
func (c *checker) checkSameLinks(e, z *mdDoc) []string {
	var out []string
	want := map[string][]int{}
	for _, l := range e.links {
		key, lang := c.linkKey(e, z, l.target)
		if !lang {
			want[key] = append(want[key], l.line)
		}
	}
	got := map[string][]int{}
	for _, l := range z.links {
		key, lang := c.linkKey(z, e, l.target)
		if lang {
			continue
		}
		if p, frag, ok := resolve(z.path, l.target); ok {
			if zh, translated := c.due[p]; translated {
				out = append(out, fmt.Sprintf("%s:%d: link %q goes to the English page %s; link its translation %s",
					z.path, l.line, l.target, p, relPath(z.path, zh)+fragment(frag)))
				key = zh + fragment(frag)
			}
		}
		got[key] = append(got[key], l.line)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
		for k := range got {
			if _, dup := want[k]; !dup && !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		w, g := want[k], got[k]
		switch {
		case len(w) == len(g):
		case len(g) == 0:
			out = append(out, fmt.Sprintf("%s: no link to %s; English %s links to it at line %s",
				z.path, c.show(z.path, k), e.path, lines(w)))
		case len(w) == 0:
			out = append(out, fmt.Sprintf("%s:%d: link to %s, which English %s does not have",
				z.path, g[0], c.show(z.path, k), e.path))
		default:
			out = append(out, fmt.Sprintf("%s: %d links to %s (line %s), English %s has %d (line %s)",
				z.path, len(g), c.show(z.path, k), lines(g), e.path, len(w), lines(w)))
		}
	}
	return out
}

// linkKey is what a link of d points at, with pages that have a translation
// replaced by the translation (for the English side) so both sides compare;
// lang says it is the link to the other-language version of d.
func (c *checker) linkKey(d, other *mdDoc, target string) (key string, lang bool) {
	p, frag, ok := resolve(d.path, target)
	if !ok {
		return target, false
	}
	if p == other.path && frag == "" {
		return "", true
	}
	if zh, translated := c.due[p]; translated && c.enOf[d.path] == "" {
		p = zh
	}
	return p + fragment(frag), false
}

// show writes a link key as a link from the document at from.
func (c *checker) show(from, key string) string {
	if isExternal(key) {
		return key
	}
	p, frag, _ := strings.Cut(key, "#")
	if frag != "" {
		frag = "#" + frag
	}
	return relPath(from, p) + frag
}

func fragment(frag string) string {
	if frag == "" {
		return ""
	}
	return "#" + frag
}

func lines(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// checkIDs: an explicit anchor in the translation must be an anchor of the
// English page, and stand before the counterpart of the English heading
// with that anchor.
func checkIDs(e, z *mdDoc, pairs []pairing) []string {
	var out []string
	for _, id := range z.ids {
		i := e.headingWithSlug(id.id)
		if i < 0 {
			if !e.hasAnchor(id.id) {
				out = append(out, fmt.Sprintf("%s:%d: <a id=%q>: English %s has no heading or id with this anchor (was the English heading renamed?)",
					z.path, id.line, id.id, e.path))
			}
			continue
		}
		want := counterpart(pairs, i)
		if got := z.headingAfter(id.line); want >= 0 && got != want {
			where := "no heading"
			if got >= 0 {
				where = fmt.Sprintf("heading %d %q", got+1, z.headings[got].raw)
			}
			out = append(out, fmt.Sprintf("%s:%d: <a id=%q> stands before %s, but belongs before heading %d %q, the translation of %s:%d %q",
				z.path, id.line, id.id, where, want+1, z.headings[want].raw, e.path, e.headings[i].line, e.headings[i].raw))
		}
	}
	return out
}

// counterpart is the translation's index of English item e, or -1.
func counterpart(pairs []pairing, e int) int {
	for _, p := range pairs {
		if p.e == e {
			return p.z
		}
	}
	return -1
}

func (d *mdDoc) headingWithSlug(slug string) int {
	for i, h := range d.headings {
		if h.slug == slug {
			return i
		}
	}
	return -1
}

// headingAfter is the index of the heading on the first non-blank line after
// line (1-based), or -1.
func (d *mdDoc) headingAfter(line int) int {
	for n := line + 1; n <= len(d.lines); n++ {
		if strings.TrimSpace(d.lines[n-1]) == "" {
			continue
		}
		for i, h := range d.headings {
			if h.line == n {
				return i
			}
		}
		return -1
	}
	return -1
}

var schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

func isExternal(target string) bool { return schemeRE.MatchString(target) }

// resolve turns a link target of the document at from into a path relative
// to the repository root and a fragment; ok is false for external links.
func resolve(from, target string) (p, frag string, ok bool) {
	if isExternal(target) {
		return "", "", false
	}
	target, frag, _ = strings.Cut(target, "#")
	if u, err := url.PathUnescape(target); err == nil {
		target = u
	}
	if u, err := url.PathUnescape(frag); err == nil {
		frag = u
	}
	switch {
	case target == "":
		p = from
	case strings.HasPrefix(target, "/"):
		p = path.Clean(strings.TrimPrefix(target, "/"))
	default:
		p = path.Join(path.Dir(from), target)
	}
	return p, frag, true
}

func relPath(from, to string) string {
	r, err := filepath.Rel(filepath.FromSlash(path.Dir(from)), filepath.FromSlash(to))
	if err != nil {
		return to
	}
	return filepath.ToSlash(r)
}

// resolveLinks: every relative link of d names an existing file, and every
// anchor into a Markdown file names one of its headings or explicit ids.
func (c *checker) resolveLinks(d *mdDoc) []string {
	var out []string
	for _, l := range d.links {
		p, frag, ok := resolve(d.path, l.target)
		if !ok {
			continue
		}
		if p == ".." || strings.HasPrefix(p, "../") {
			out = append(out, fmt.Sprintf("%s:%d: link %q points outside the repository", d.path, l.line, l.target))
			continue
		}
		if !exists(c.fsys, p) {
			out = append(out, fmt.Sprintf("%s:%d: link %q: %s does not exist", d.path, l.line, l.target, p))
			continue
		}
		if frag == "" || !strings.HasSuffix(p, ".md") {
			continue
		}
		target, err := c.doc(p)
		if err != nil {
			out = append(out, fmt.Sprintf("%s:%d: link %q: %v", d.path, l.line, l.target, err))
			continue
		}
		if target.hasAnchor(frag) {
			continue
		}
		msg := fmt.Sprintf("%s:%d: link %q: %s has no heading or <a id> with anchor #%s", d.path, l.line, l.target, p, frag)
		if en, ok := c.enOf[p]; ok {
			msg += c.anchorHint(en, target, frag)
		}
		out = append(out, msg)
	}
	return out
}

func (d *mdDoc) hasAnchor(frag string) bool {
	for _, h := range d.headings {
		if h.slug == frag {
			return true
		}
	}
	for _, id := range d.ids {
		if id.id == frag {
			return true
		}
	}
	return false
}

// anchorHint says where the explicit anchor belongs in the translation z of
// the English page en.
func (c *checker) anchorHint(en string, z *mdDoc, frag string) string {
	e, err := c.doc(en)
	if err != nil {
		return ""
	}
	i := e.headingWithSlug(frag)
	switch {
	case i >= 0:
		h := e.headings[i]
		pairs, _ := c.headingPairs(e, z)
		if j := counterpart(pairs, i); j >= 0 {
			return fmt.Sprintf(": put <a id=%q></a> on the line before heading %d (%s:%d %q), the translation of %s:%d %q",
				frag, j+1, z.path, z.headings[j].line, z.headings[j].raw, en, h.line, h.raw)
		}
		return fmt.Sprintf(": English %s:%d %q has it; translate that heading and put <a id=%q></a> before it", en, h.line, h.raw, frag)
	case e.hasAnchor(frag):
		return fmt.Sprintf(": English %s has it as an explicit id; add the same <a id=%q></a>", en, frag)
	}
	return fmt.Sprintf(" (nor does English %s)", en)
}
