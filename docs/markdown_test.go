package docs

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// mdDoc is what the translation checks need from one Markdown file: its
// headings, fenced code blocks, tables, relative links and explicit anchors.
// The parser knows the subset of GitHub Flavored Markdown the docs use.
type mdDoc struct {
	path     string // slash-separated, relative to the repository root
	headings []heading
	blocks   []codeBlock
	tables   []table
	links    []link
	ids      []anchorID // <a id="..."> and <a name="..."> outside code
	lines    []string
}

type heading struct {
	line  int    // 1-based
	level int    // number of #
	raw   string // the line as written, trimmed
	slug  string // GitHub's anchor for it (-1, -2, ... for repeats)
	codes []string
}

type codeBlock struct {
	line  int // line of the opening fence
	info  string
	lines []string
}

type table struct {
	line int
	rows []tableRow // the delimiter row left out
}

type tableRow struct {
	line  int
	raw   string
	cells []string
}

type link struct {
	line   int
	target string
}

type anchorID struct {
	line int
	id   string
}

var (
	fenceRE    = regexp.MustCompile("^( *)(`{3,}|~{3,})[ \t]*(.*)$")
	headingRE  = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	linkRE     = regexp.MustCompile(`\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^\s()<>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refDefRE   = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	hrefRE     = regexp.MustCompile(`<a\s[^>]*\bhref="([^"]*)"`)
	idRE       = regexp.MustCompile(`<a\s[^>]*\b(?:id|name)="([^"]*)"`)
	htmlTagRE  = regexp.MustCompile(`</?[a-zA-Z][^>]*>`)
	delimRowRE = regexp.MustCompile(`^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$`)
)

// parseDoc reads one Markdown document. It never fails: anything it does not
// recognise is prose.
func parseDoc(path, text string) *mdDoc {
	d := &mdDoc{path: path, lines: strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")}
	slugs := map[string]int{}
	var open *codeBlock
	var fenceIndent int
	var fence string
	var tbl *table
	for i, line := range d.lines {
		n := i + 1
		if open != nil {
			if isClosingFence(line, fence) {
				d.blocks = append(d.blocks, *open)
				open = nil
				continue
			}
			open.lines = append(open.lines, trimIndent(line, fenceIndent))
			continue
		}
		if m := fenceRE.FindStringSubmatch(line); m != nil && !(m[2][0] == '`' && strings.Contains(m[3], "`")) {
			tbl = d.endTable(tbl)
			open = &codeBlock{line: n}
			if f := strings.Fields(m[3]); len(f) > 0 {
				open.info = f[0]
			}
			fenceIndent, fence = len(m[1]), m[2]
			continue
		}
		plain, codes := splitCodeSpans(line)
		if strings.HasPrefix(strings.TrimSpace(line), "|") {
			if tbl == nil {
				tbl = &table{line: n}
			}
			if !delimRowRE.MatchString(strings.TrimSpace(line)) {
				tbl.rows = append(tbl.rows, tableRow{line: n, raw: strings.TrimSpace(line), cells: splitCells(line)})
			}
		} else {
			tbl = d.endTable(tbl)
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			s := slugify(headingText(m[2]))
			if k := slugs[s]; k > 0 {
				slugs[s] = k + 1
				s += "-" + strconv.Itoa(k)
			} else {
				slugs[s] = 1
			}
			d.headings = append(d.headings, heading{line: n, level: len(m[1]), raw: strings.TrimSpace(line), slug: s, codes: codes})
		}
		for _, m := range linkRE.FindAllStringSubmatch(plain, -1) {
			d.links = append(d.links, link{line: n, target: m[2]})
		}
		for _, re := range []*regexp.Regexp{refDefRE, hrefRE} {
			for _, m := range re.FindAllStringSubmatch(plain, -1) {
				d.links = append(d.links, link{line: n, target: m[1]})
			}
		}
		for _, m := range idRE.FindAllStringSubmatch(plain, -1) {
			d.ids = append(d.ids, anchorID{line: n, id: m[1]})
		}
	}
	d.endTable(tbl)
	if open != nil { // unclosed fence: it runs to the end, as in CommonMark
		d.blocks = append(d.blocks, *open)
	}
	return d
}

func (d *mdDoc) endTable(t *table) *table {
	if t != nil && len(t.rows) > 0 {
		d.tables = append(d.tables, *t)
	}
	return nil
}

func isClosingFence(line, fence string) bool {
	s := strings.TrimLeft(line, " ")
	if !strings.HasPrefix(s, fence) {
		return false
	}
	return strings.TrimSpace(strings.TrimLeft(s, fence[:1])) == ""
}

// trimIndent removes up to n leading spaces (the indentation of the fence).
func trimIndent(line string, n int) string {
	for n > 0 && strings.HasPrefix(line, " ") {
		line, n = line[1:], n-1
	}
	return line
}

// splitCodeSpans returns the line with each inline code span blanked out
// (so links and anchors inside code are not taken for real ones) and the
// contents of the spans.
func splitCodeSpans(line string) (string, []string) {
	var codes []string
	b := []byte(line)
	for i := 0; i < len(b); {
		if b[i] == '\\' {
			i += 2
			continue
		}
		if b[i] != '`' {
			i++
			continue
		}
		run := countRun(b, i)
		end := -1
		for j := i + run; j < len(b); {
			if b[j] != '`' {
				j++
				continue
			}
			r := countRun(b, j)
			if r == run {
				end = j
				break
			}
			j += r
		}
		if end < 0 { // no closing run: literal backticks
			i += run
			continue
		}
		codes = append(codes, strings.TrimSpace(string(b[i+run:end])))
		for k := i; k < end+run; k++ {
			b[k] = ' '
		}
		i = end + run
	}
	return string(b), codes
}

func countRun(b []byte, i int) int {
	n := 0
	for i+n < len(b) && b[i+n] == '`' {
		n++
	}
	return n
}

// splitCells splits a table row on unescaped pipes.
func splitCells(line string) []string {
	s := strings.TrimSpace(line)
	s = strings.TrimPrefix(s, "|")
	if strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
		s = s[:len(s)-1]
	}
	var cells []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '|':
			cells = append(cells, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(cells, strings.TrimSpace(s[start:]))
}

// headingText is the text GitHub renders for a heading: link text instead
// of links, no HTML tags, code spans as their content.
func headingText(s string) string {
	s = linkRE.ReplaceAllString(s, "$1")
	s = htmlTagRE.ReplaceAllString(s, "")
	return strings.TrimSpace(s)
}

// slugify is GitHub's heading anchor (github-slugger): lower case, every
// character that is not a letter, mark, number, connector punctuation,
// hyphen or space dropped, spaces turned into hyphens.
func slugify(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', unicode.IsLetter(r), unicode.IsNumber(r), unicode.IsMark(r), unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// commentMarker is the comment syntax of a code block's language ("" when
// its lines are compared as they are), and whether only command lines
// ("$ ...") of a console transcript carry trailing comments.
func commentMarker(info string) (marker string, commandsOnly bool) {
	switch strings.ToLower(info) {
	case "sh", "bash", "shell", "zsh", "yaml", "yml", "toml", "dockerfile", "python", "promql":
		return "#", false
	case "console", "shell-session":
		return "#", true
	case "go", "groovy", "java", "js", "javascript", "ts", "c", "cpp", "rust":
		return "//", false
	}
	return "", false
}

// codeLine is one line of a code block that is not a comment, with any
// trailing comment and trailing blanks removed.
type codeLine struct {
	n    int // 1-based line within the block
	text string
}

func significantLines(b codeBlock) []codeLine {
	marker, commandsOnly := commentMarker(b.info)
	var out []codeLine
	for i, l := range b.lines {
		if marker != "" {
			if strings.HasPrefix(strings.TrimSpace(l), marker) {
				continue
			}
			if !commandsOnly || strings.HasPrefix(strings.TrimSpace(l), "$ ") {
				l = stripComment(l, marker)
			}
		}
		out = append(out, codeLine{n: i + 1, text: strings.TrimRight(l, " \t")})
	}
	return out
}

// stripComment cuts a trailing comment: marker at the start of the line or
// after a blank, outside quotes.
func stripComment(l, marker string) string {
	var quote byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || (c == '`' && marker == "//"):
			quote = c
		case strings.HasPrefix(l[i:], marker) && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}
