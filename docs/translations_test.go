// Package docs holds Graylane's user documentation. Its test keeps every
// Chinese translation (NAME.zh-CN.md, next to NAME.md) in step with the
// English page: the same headings, the same code blocks (comments aside),
// the same tables (code cells as in English), the same links (to the
// translated page where there is one), and every relative link and anchor
// resolving.
package docs

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
)

const zhSuffix = ".zh-CN.md"

// englishPatterns are the user documents that must have a translation. The
// benchmarks' bench/README.md is a developers' log of measurements, kept in
// English only; a bench/README.zh-CN.md, if someone writes one, is checked
// like the others.
var englishPatterns = []string{"README.md", "docs/*.md", "examples/README.md"}

func TestTranslations(t *testing.T) {
	c, problems := newChecker(os.DirFS(".."))
	for _, p := range problems {
		t.Error(p)
	}
	for _, en := range c.english {
		t.Run(en, func(t *testing.T) {
			for _, p := range c.checkPair(en) {
				t.Error(p)
			}
		})
	}
}

type checker struct {
	fsys    fs.FS
	english []string          // English documents that have a translation
	zhOf    map[string]string // English path -> translation path
	due     map[string]string // English path -> translation path, also where the translation is missing
	enOf    map[string]string // translation path -> English path
	docs    map[string]*mdDoc
}

// newChecker pairs every English user document with its translation and
// reports documents without a counterpart.
func newChecker(fsys fs.FS) (*checker, []string) {
	c := &checker{fsys: fsys, zhOf: map[string]string{}, enOf: map[string]string{}, due: map[string]string{}, docs: map[string]*mdDoc{}}
	var problems []string
	for _, pat := range englishPatterns {
		matches, err := fs.Glob(fsys, pat)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", pat, err))
		}
		for _, en := range matches {
			if strings.HasSuffix(en, zhSuffix) {
				continue
			}
			zh := strings.TrimSuffix(en, ".md") + zhSuffix
			c.due[en] = zh
			if !exists(fsys, zh) {
				problems = append(problems, fmt.Sprintf("%s: no Chinese translation: create %s with the same headings, code blocks, tables and links", en, zh))
				continue
			}
			c.pair(en, zh)
		}
	}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, zhSuffix) {
			return nil
		}
		en := strings.TrimSuffix(p, zhSuffix) + ".md"
		if !exists(fsys, en) {
			problems = append(problems, fmt.Sprintf("%s: no English original %s", p, en))
		} else if _, ok := c.zhOf[en]; !ok {
			c.pair(en, p)
		}
		return nil
	})
	if err != nil {
		problems = append(problems, fmt.Sprintf("looking for translations: %v", err))
	}
	sort.Strings(c.english)
	return c, problems
}

func (c *checker) pair(en, zh string) {
	c.english = append(c.english, en)
	c.zhOf[en], c.enOf[zh], c.due[en] = zh, en, zh
}

func exists(fsys fs.FS, p string) bool {
	_, err := fs.Stat(fsys, p)
	return err == nil
}

func (c *checker) doc(p string) (*mdDoc, error) {
	if d, ok := c.docs[p]; ok {
		return d, nil
	}
	b, err := fs.ReadFile(c.fsys, p)
	if err != nil {
		return nil, err
	}
	d := parseDoc(p, string(b))
	c.docs[p] = d
	return d, nil
}

// checkPair returns what is out of step between an English document and
// its translation, each problem as "file:line: message".
func (c *checker) checkPair(en string) []string {
	e, err := c.doc(en)
	if err != nil {
		return []string{err.Error()}
	}
	z, err := c.doc(c.zhOf[en])
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	out = append(out, checkHeadings(e, z)...)
	out = append(out, checkBlocks(e, z)...)
	out = append(out, checkTables(e, z)...)
	out = append(out, c.checkLanguageLinks(e, z)...)
	out = append(out, c.checkSameLinks(e, z)...)
	out = append(out, checkIDs(e, z)...)
	out = append(out, c.resolveLinks(e)...)
	out = append(out, c.resolveLinks(z)...)
	return out
}

// checkHeadings compares the heading structure: level by level, in order,
// with the same code spans. Only the first difference is reported: after
// it, the headings no longer line up.
func checkHeadings(e, z *mdDoc) []string {
	n := min(len(e.headings), len(z.headings))
	for i := range n {
		eh, zh := e.headings[i], z.headings[i]
		if eh.level != zh.level {
			return []string{fmt.Sprintf("%s:%d: heading %d %q is level %d, English heading %d is level %d: %s:%d %q (a heading was added, removed or moved here; later headings are not compared)",
				z.path, zh.line, i+1, zh.raw, zh.level, i+1, eh.level, e.path, eh.line, eh.raw)}
		}
		if !slices.Equal(eh.codes, zh.codes) {
			return []string{fmt.Sprintf("%s:%d: heading %d %q has code %s, English heading %d has %s: %s:%d %q (code in headings stays as in English; later headings are not compared)",
				z.path, zh.line, i+1, zh.raw, codeList(zh.codes), i+1, codeList(eh.codes), e.path, eh.line, eh.raw)}
		}
	}
	switch {
	case len(e.headings) > n:
		eh := e.headings[n]
		return []string{fmt.Sprintf("%s: %d headings, English %s has %d: English heading %d %s:%d %q and any after it have no counterpart",
			z.path, len(z.headings), e.path, len(e.headings), n+1, e.path, eh.line, eh.raw)}
	case len(z.headings) > n:
		zh := z.headings[n]
		return []string{fmt.Sprintf("%s:%d: heading %d %q has no English counterpart: %s has %d headings",
			z.path, zh.line, n+1, zh.raw, e.path, len(e.headings))}
	}
	return nil
}

func codeList(codes []string) string {
	if len(codes) == 0 {
		return "none"
	}
	q := make([]string, len(codes))
	for i, s := range codes {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

// checkBlocks compares the fenced code blocks pairwise: the same fence info
// and the same lines, comment lines and trailing comments aside.
func checkBlocks(e, z *mdDoc) []string {
	var out []string
	n := min(len(e.blocks), len(z.blocks))
	for i := range n {
		d := diffBlock(e.path, e.blocks[i], z.path, z.blocks[i])
		if d == "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s (code block %d, English %s:%d)", d, i+1, e.path, e.blocks[i].line))
		if len(e.blocks) != len(z.blocks) {
			break // the blocks no longer line up
		}
	}
	switch {
	case len(e.blocks) > len(z.blocks):
		b := e.blocks[n]
		out = append(out, fmt.Sprintf("%s: %d code blocks, English %s has %d: English code block %d at %s:%d and any after it have no counterpart",
			z.path, len(z.blocks), e.path, len(e.blocks), n+1, e.path, b.line))
	case len(z.blocks) > len(e.blocks):
		b := z.blocks[n]
		out = append(out, fmt.Sprintf("%s:%d: code block %d has no English counterpart: %s has %d code blocks",
			z.path, b.line, n+1, e.path, len(e.blocks)))
	}
	return out
}

// diffBlock describes the first difference between two code blocks, located
// in the translation; "" when they agree.
func diffBlock(ePath string, eb codeBlock, zPath string, zb codeBlock) string {
	if eb.info != zb.info {
		return fmt.Sprintf("%s:%d: code block fence says %q, English says %q", zPath, zb.line, zb.info, eb.info)
	}
	el, zl := significantLines(eb), significantLines(zb)
	for j := range min(len(el), len(zl)) {
		if el[j].text != zl[j].text {
			return fmt.Sprintf("%s:%d: code line %q, English %s:%d: %q (comments aside)",
				zPath, zb.line+zl[j].n, zl[j].text, ePath, eb.line+el[j].n, el[j].text)
		}
	}
	switch {
	case len(el) > len(zl):
		l := el[len(zl)]
		return fmt.Sprintf("%s:%d: code block ends before English line %s:%d: %q", zPath, zb.line+len(zb.lines)+1, ePath, eb.line+l.n, l.text)
	case len(zl) > len(el):
		l := zl[len(el)]
		return fmt.Sprintf("%s:%d: code line %q is not in the English block (comments aside)", zPath, zb.line+l.n, l.text)
	}
	return ""
}

// checkTables compares the tables pairwise: rows, cells per row, and the
// cells that are only code (flag names, fields, values), which stay as in
// English.
func checkTables(e, z *mdDoc) []string {
	var out []string
	n := min(len(e.tables), len(z.tables))
	for i := range n {
		d := diffTable(e.path, e.tables[i], z.path, z.tables[i])
		if d == "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s (table %d, English %s:%d)", d, i+1, e.path, e.tables[i].line))
	}
	switch {
	case len(e.tables) > len(z.tables):
		out = append(out, fmt.Sprintf("%s: %d tables, English %s has %d: English table %d at %s:%d and any after it have no counterpart",
			z.path, len(z.tables), e.path, len(e.tables), n+1, e.path, e.tables[n].line))
	case len(z.tables) > len(e.tables):
		out = append(out, fmt.Sprintf("%s:%d: table %d has no English counterpart: %s has %d tables",
			z.path, z.tables[n].line, n+1, e.path, len(e.tables)))
	}
	return out
}

func diffTable(ePath string, et table, zPath string, zt table) string {
	for j := range min(len(et.rows), len(zt.rows)) {
		er, zr := et.rows[j], zt.rows[j]
		if len(er.cells) != len(zr.cells) {
			return fmt.Sprintf("%s:%d: row %d has %d cells, English %s:%d has %d", zPath, zr.line, j+1, len(zr.cells), ePath, er.line, len(er.cells))
		}
		for k, cell := range er.cells {
			_, ecodes := splitCodeSpans(cell)
			if !isCodeCell(cell) {
				continue
			}
			if _, zcodes := splitCodeSpans(zr.cells[k]); !slices.Equal(ecodes, zcodes) {
				return fmt.Sprintf("%s:%d: row %d cell %d is %q, English %s:%d has %q (code cells stay as in English; a row added or removed?)",
					zPath, zr.line, j+1, k+1, zr.cells[k], ePath, er.line, cell)
			}
		}
	}
	switch {
	case len(et.rows) > len(zt.rows):
		r := et.rows[len(zt.rows)]
		return fmt.Sprintf("%s:%d: table has %d rows, English has %d: English row %d %s:%d %q has no counterpart",
			zPath, zt.line, len(zt.rows), len(et.rows), len(zt.rows)+1, ePath, r.line, r.raw)
	case len(zt.rows) > len(et.rows):
		r := zt.rows[len(et.rows)]
		return fmt.Sprintf("%s:%d: row %d %q has no English counterpart: the English table has %d rows",
			zPath, r.line, len(et.rows)+1, r.raw, len(et.rows))
	}
	return ""
}

// isCodeCell: the cell holds code spans and, besides them, no letter or
// digit (only separators such as ", " or " / ").
func isCodeCell(cell string) bool {
	plain, codes := splitCodeSpans(cell)
	if len(codes) == 0 {
		return false
	}
	return !strings.ContainsFunc(plain, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) })
}

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

// checkIDs: an explicit anchor in either page must be an anchor of the
// English page, and stand before the heading that translates the English
// heading with that anchor.
func checkIDs(e, z *mdDoc) []string {
	var out []string
	enAnchors := map[string]int{} // anchor -> English heading index, -1 for an explicit id
	for _, id := range e.ids {
		enAnchors[id.id] = -1
	}
	for i, h := range e.headings {
		enAnchors[h.slug] = i
	}
	for _, id := range z.ids {
		i, ok := enAnchors[id.id]
		if !ok {
			out = append(out, fmt.Sprintf("%s:%d: <a id=%q>: English %s has no heading or id with this anchor (was the English heading renamed?)",
				z.path, id.line, id.id, e.path))
			continue
		}
		j := z.headingAfter(id.line)
		if i >= 0 && j != i {
			where := "no heading"
			if j >= 0 {
				where = fmt.Sprintf("heading %d %q", j+1, z.headings[j].raw)
			}
			out = append(out, fmt.Sprintf("%s:%d: <a id=%q> stands before %s, but the English anchor is heading %d: %s:%d %q",
				z.path, id.line, id.id, where, i+1, e.path, e.headings[i].line, e.headings[i].raw))
		}
	}
	return out
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
	for i, h := range e.headings {
		if h.slug != frag {
			continue
		}
		if i < len(z.headings) {
			return fmt.Sprintf(": put <a id=%q></a> on the line before heading %d (%s:%d %q), the translation of %s:%d %q",
				frag, i+1, z.path, z.headings[i].line, z.headings[i].raw, en, h.line, h.raw)
		}
		return fmt.Sprintf(": English %s:%d %q has it; translate that heading and put <a id=%q></a> before it", en, h.line, h.raw, frag)
	}
	if e.hasAnchor(frag) {
		return fmt.Sprintf(": English %s has it as an explicit id; add the same <a id=%q></a>", en, frag)
	}
	return fmt.Sprintf(" (nor does English %s)", en)
}
