// Package docs holds Graylane's user documentation. Its test keeps every
// Chinese translation (NAME.zh-CN.md, next to NAME.md) in step with the
// English page: the same headings, the same code blocks (comments aside),
// the same tables (code cells as in English), the same links (to the
// translated page where there is one), and every relative link and anchor
// resolving.
//
// Headings a link points at keep their English anchor in the translation
// as <a id="english-anchor"></a> on the line before the translated heading,
// so links into either language use the same anchors.
//
// To bring a translation up to date, run
//
//	go test ./docs/ -run TestTranslations
//
// and see what changed in the English page since the translation was last
// committed:
//
//	git diff $(git log -1 --format=%H -- docs/NAME.zh-CN.md) -- docs/NAME.md
package docs

import (
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"
)

const zhSuffix = ".zh-CN.md"

// englishPatterns are the user documents that must have a translation. The
// benchmarks' bench/README.md is a developers' log of measurements, kept in
// English only; a bench/README.zh-CN.md, if someone writes one, is checked
// like the others.
var englishPatterns = []string{"README.md", "docs/*.md", "examples/README.md", "examples/seed000/README.md"}

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
	pairs, prints := c.headingPairs(e, z)
	var out []string
	out = append(out, checkHeadings(e, z, pairs, prints)...)
	out = append(out, checkBlocks(e, z)...)
	out = append(out, checkTables(e, z)...)
	out = append(out, c.checkLanguageLinks(e, z)...)
	out = append(out, c.checkSameLinks(e, z)...)
	out = append(out, checkIDs(e, z, pairs)...)
	out = append(out, c.resolveLinks(e)...)
	out = append(out, c.resolveLinks(z)...)
	return out
}
