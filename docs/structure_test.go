package docs

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// pairing is one step of an alignment: an English item and its
// counterpart in the translation, or -1 on the side that has none.
type pairing struct{ e, z int }

// align lines up two sequences of ne and nz items. Items equal under the
// first predicate are matched as their longest common subsequence; between
// two matches, the rest is aligned under the next, weaker predicate; what
// no predicate matches is paired in order (an item changed on one side),
// and the remainder is left unpaired (an item added or removed).
func align(ne, nz int, preds ...func(e, z int) bool) []pairing {
	es, zs := make([]int, ne), make([]int, nz)
	for i := range es {
		es[i] = i
	}
	for j := range zs {
		zs[j] = j
	}
	return alignRun(es, zs, preds)
}

func alignRun(es, zs []int, preds []func(e, z int) bool) []pairing {
	var out []pairing
	if len(preds) == 0 {
		k := 0
		for ; k < len(es) && k < len(zs); k++ {
			out = append(out, pairing{es[k], zs[k]})
		}
		for ; k < len(es); k++ {
			out = append(out, pairing{es[k], -1})
		}
		for ; k < len(zs); k++ {
			out = append(out, pairing{-1, zs[k]})
		}
		return out
	}
	same := preds[0]
	lcs := make([][]int, len(es)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(zs)+1)
	}
	for i := len(es) - 1; i >= 0; i-- {
		for j := len(zs) - 1; j >= 0; j-- {
			if same(es[i], zs[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ge, gz []int
	i, j := 0, 0
	for i < len(es) && j < len(zs) {
		switch {
		case same(es[i], zs[j]) && lcs[i][j] == lcs[i+1][j+1]+1:
			out = append(out, alignRun(ge, gz, preds[1:])...)
			out = append(out, pairing{es[i], zs[j]})
			ge, gz = nil, nil
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			ge = append(ge, es[i])
			i++
		default:
			gz = append(gz, zs[j])
			j++
		}
	}
	ge, gz = append(ge, es[i:]...), append(gz, zs[j:]...)
	return append(out, alignRun(ge, gz, preds[1:])...)
}

// place says where the counterpart of English item e belongs in the
// translation: after the counterpart of the last English item before it
// that has one.
func place(pairs []pairing, e int, what, zPath string, line func(int) int) string {
	last := -1
	for _, p := range pairs {
		if p.e >= 0 && p.e < e && p.z >= 0 {
			last = p.z
		}
	}
	if last < 0 {
		return "before the first " + what
	}
	return fmt.Sprintf("after %s %d (%s:%d)", what, last+1, zPath, line(last))
}

// headingPairs aligns the headings of a page and its translation by what
// their sections hold that a translation keeps: level, code in the
// heading, code blocks, tables' code cells and links.
func (c *checker) headingPairs(e, z *mdDoc) (pairs []pairing, prints []string) {
	fe, fz := c.sectionPrints(e, z), c.sectionPrints(z, e)
	se, sz := sectionShapes(e), sectionShapes(z)
	return align(len(fe), len(fz),
		func(i, j int) bool { return fe[i] == fz[j] },
		func(i, j int) bool { return se[i] == sz[j] },
		func(i, j int) bool {
			return e.headings[i].level == z.headings[j].level && slices.Equal(e.headings[i].codes, z.headings[j].codes)
		}), fe
}

// sectionShapes is, per heading, its level and code and how many code
// blocks and tables its section holds: what still lines up when the
// content of a section changed.
func sectionShapes(d *mdDoc) []string {
	shapes := make([]string, len(d.headings))
	for i, h := range d.headings {
		end := len(d.lines) + 1
		if i+1 < len(d.headings) {
			end = d.headings[i+1].line
		}
		blocks, tables := 0, 0
		for _, b := range d.blocks {
			if b.line >= h.line && b.line < end {
				blocks++
			}
		}
		for _, t := range d.tables {
			if t.line >= h.line && t.line < end {
				tables++
			}
		}
		shapes[i] = fmt.Sprintf("%d %q %d %d", h.level, h.codes, blocks, tables)
	}
	return shapes
}

// sectionPrints is, per heading of d, what its section (up to the next
// heading) holds that does not change in translation.
func (c *checker) sectionPrints(d, other *mdDoc) []string {
	prints := make([]string, len(d.headings))
	for i, h := range d.headings {
		end := len(d.lines) + 1
		if i+1 < len(d.headings) {
			end = d.headings[i+1].line
		}
		in := func(line int) bool { return line >= h.line && line < end }
		var b strings.Builder
		fmt.Fprintf(&b, "%d %q", h.level, h.codes)
		for _, blk := range d.blocks {
			if in(blk.line) {
				fmt.Fprintf(&b, " block %q", blk.info)
				for _, l := range significantLines(blk) {
					fmt.Fprintf(&b, " %q", l.text)
				}
			}
		}
		for _, t := range d.tables {
			if in(t.line) {
				fmt.Fprintf(&b, " table %d", len(t.rows))
				for _, r := range t.rows {
					for _, cell := range r.cells {
						if isCodeCell(cell) {
							_, codes := splitCodeSpans(cell)
							fmt.Fprintf(&b, " %q", codes)
						}
					}
				}
			}
		}
		var links []string
		for _, l := range d.links {
			if key, lang := c.linkKey(d, other, l.target); in(l.line) && !lang {
				links = append(links, key)
			}
		}
		slices.Sort(links)
		fmt.Fprintf(&b, " links %q", links)
		prints[i] = b.String()
	}
	return prints
}

// checkHeadings compares the headings: the same levels in the same order,
// with the same code spans. A heading added or removed on one side is
// named with the place its counterpart belongs.
func checkHeadings(e, z *mdDoc, pairs []pairing, prints []string) []string {
	var out []string
	line := func(j int) int { return z.headings[j].line }
	for _, p := range pairs {
		switch {
		case p.z < 0:
			eh := e.headings[p.e]
			msg := fmt.Sprintf("%s: English heading %d %s:%d %q has no counterpart; it belongs %s",
				z.path, p.e+1, e.path, eh.line, eh.raw, place(pairs, p.e, "heading", z.path, line))
			if (p.e > 0 && prints[p.e-1] == prints[p.e]) || (p.e+1 < len(prints) && prints[p.e+1] == prints[p.e]) {
				msg += " (the sections next to it look alike: the missing one may be a neighbour)"
			}
			out = append(out, msg)
		case p.e < 0:
			zh := z.headings[p.z]
			out = append(out, fmt.Sprintf("%s:%d: heading %d %q has no English counterpart in %s", z.path, zh.line, p.z+1, zh.raw, e.path))
		default:
			eh, zh := e.headings[p.e], z.headings[p.z]
			switch {
			case eh.level != zh.level:
				out = append(out, fmt.Sprintf("%s:%d: heading %d %q is level %d, English heading %d %s:%d %q is level %d",
					z.path, zh.line, p.z+1, zh.raw, zh.level, p.e+1, e.path, eh.line, eh.raw, eh.level))
			case !slices.Equal(eh.codes, zh.codes):
				out = append(out, fmt.Sprintf("%s:%d: heading %d %q has code %s, English heading %d %s:%d %q has %s (code in headings stays as in English)",
					z.path, zh.line, p.z+1, zh.raw, codeList(zh.codes), p.e+1, e.path, eh.line, eh.raw, codeList(eh.codes)))
			}
		}
	}
	return out
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

// checkBlocks compares the fenced code blocks: the same fence info and the
// same lines, comment lines and trailing comments aside.
func checkBlocks(e, z *mdDoc) []string {
	pairs := align(len(e.blocks), len(z.blocks),
		func(i, j int) bool { return diffBlock(e.path, e.blocks[i], z.path, z.blocks[j]) == "" },
		func(i, j int) bool { return similarBlocks(e.blocks[i], z.blocks[j]) },
		func(i, j int) bool { return e.blocks[i].info == z.blocks[j].info })
	var out []string
	line := func(j int) int { return z.blocks[j].line }
	for _, p := range pairs {
		switch {
		case p.z < 0:
			b := e.blocks[p.e]
			out = append(out, fmt.Sprintf("%s: English code block %d %s:%d (```%s, first line %q) has no counterpart; it belongs %s",
				z.path, p.e+1, e.path, b.line, b.info, firstLine(b), place(pairs, p.e, "code block", z.path, line)))
		case p.e < 0:
			b := z.blocks[p.z]
			out = append(out, fmt.Sprintf("%s:%d: code block %d (first line %q) has no English counterpart in %s", z.path, b.line, p.z+1, firstLine(b), e.path))
		default:
			if d := diffBlock(e.path, e.blocks[p.e], z.path, z.blocks[p.z]); d != "" {
				out = append(out, fmt.Sprintf("%s (code block %d, English %s:%d)", d, p.z+1, e.path, e.blocks[p.e].line))
			}
		}
	}
	return out
}

// similarBlocks: the same fence info and at least half of the lines in
// common, for a block that was edited rather than added.
func similarBlocks(eb, zb codeBlock) bool {
	if eb.info != zb.info {
		return false
	}
	zl := map[string]int{}
	for _, l := range significantLines(zb) {
		zl[l.text]++
	}
	el := significantLines(eb)
	common := 0
	for _, l := range el {
		if zl[l.text] > 0 {
			zl[l.text]--
			common++
		}
	}
	return 2*common >= max(len(el), len(significantLines(zb)))
}

func firstLine(b codeBlock) string {
	if l := significantLines(b); len(l) > 0 {
		return l[0].text
	}
	return ""
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

// checkTables compares the tables: rows, cells per row, and the cells
// that are only code (flag names, fields, values), which stay as in English.
func checkTables(e, z *mdDoc) []string {
	pairs := align(len(e.tables), len(z.tables),
		func(i, j int) bool { return len(diffTable(e.path, e.tables[i], z.path, z.tables[j])) == 0 },
		func(i, j int) bool { return similarTables(e.tables[i], z.tables[j]) },
		func(i, j int) bool { return len(e.tables[i].rows[0].cells) == len(z.tables[j].rows[0].cells) })
	var out []string
	line := func(j int) int { return z.tables[j].line }
	for _, p := range pairs {
		switch {
		case p.z < 0:
			t := e.tables[p.e]
			out = append(out, fmt.Sprintf("%s: English table %d %s:%d (%q) has no counterpart; it belongs %s",
				z.path, p.e+1, e.path, t.line, t.rows[0].raw, place(pairs, p.e, "table", z.path, line)))
		case p.e < 0:
			t := z.tables[p.z]
			out = append(out, fmt.Sprintf("%s:%d: table %d has no English counterpart in %s", z.path, t.line, p.z+1, e.path))
		default:
			for _, d := range diffTable(e.path, e.tables[p.e], z.path, z.tables[p.z]) {
				out = append(out, fmt.Sprintf("%s (table %d, English %s:%d)", d, p.z+1, e.path, e.tables[p.e].line))
			}
		}
	}
	return out
}

func diffTable(ePath string, et table, zPath string, zt table) []string {
	pairs := align(len(et.rows), len(zt.rows), func(i, j int) bool { return sameRow(et.rows[i], zt.rows[j]) })
	var out []string
	line := func(j int) int { return zt.rows[j].line }
	for _, p := range pairs {
		switch {
		case p.z < 0:
			r := et.rows[p.e]
			out = append(out, fmt.Sprintf("%s:%d: English row %d %s:%d %q has no counterpart; it belongs %s",
				zPath, zt.line, p.e+1, ePath, r.line, r.raw, place(pairs, p.e, "row", zPath, line)))
		case p.e < 0:
			r := zt.rows[p.z]
			out = append(out, fmt.Sprintf("%s:%d: row %d %q has no English counterpart", zPath, r.line, p.z+1, r.raw))
		default:
			er, zr := et.rows[p.e], zt.rows[p.z]
			if len(er.cells) != len(zr.cells) {
				out = append(out, fmt.Sprintf("%s:%d: row %d has %d cells, English %s:%d has %d", zPath, zr.line, p.z+1, len(zr.cells), ePath, er.line, len(er.cells)))
				continue
			}
			for k, cell := range er.cells {
				if !isCodeCell(cell) {
					continue
				}
				_, ecodes := splitCodeSpans(cell)
				if _, zcodes := splitCodeSpans(zr.cells[k]); !slices.Equal(ecodes, zcodes) {
					out = append(out, fmt.Sprintf("%s:%d: row %d cell %d is %q, English %s:%d has %q (code cells stay as in English)",
						zPath, zr.line, p.z+1, k+1, zr.cells[k], ePath, er.line, cell))
				}
			}
		}
	}
	return out
}

// similarTables: at least half of the English rows have a counterpart, for
// a table that was edited rather than added.
func similarTables(et, zt table) bool {
	n := 0
	for _, p := range align(len(et.rows), len(zt.rows), func(i, j int) bool { return sameRow(et.rows[i], zt.rows[j]) }) {
		if p.e >= 0 && p.z >= 0 && sameRow(et.rows[p.e], zt.rows[p.z]) {
			n++
		}
	}
	return 2*n >= len(et.rows)
}

// sameRow: the same number of cells and the same code cells.
func sameRow(er, zr tableRow) bool {
	if len(er.cells) != len(zr.cells) {
		return false
	}
	for k, cell := range er.cells {
		if !isCodeCell(cell) {
			continue
		}
		_, ecodes := splitCodeSpans(cell)
		if _, zcodes := splitCodeSpans(zr.cells[k]); !slices.Equal(ecodes, zcodes) {
			return false
		}
	}
	return true
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
