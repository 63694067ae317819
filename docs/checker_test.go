package docs

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// checkAll runs every check over a file tree, as TestTranslations does.
func checkAll(fsys fstest.MapFS) []string {
	c, problems := newChecker(fsys)
	for _, en := range c.english {
		problems = append(problems, c.checkPair(en)...)
	}
	return problems
}

const enPage = "# `graylane x`: a page\n" +
	"\n" +
	"[中文说明](x.zh-CN.md)\n" +
	"\n" +
	"Intro, see [the other page](y.md#the-part) and [below](#flags).\n" +
	"\n" +
	"```sh\n" +
	"# set up\n" +
	"graylane x -f a.yaml     # run it\n" +
	"```\n" +
	"\n" +
	"## Flags\n" +
	"\n" +
	"| flag | meaning |\n" +
	"|---|---|\n" +
	"| `-f` | a file |\n" +
	"| `--wait` | wait |\n" +
	"\n" +
	"### Output\n" +
	"\n" +
	"```\n" +
	"status: 200 (matched)\n" +
	"```\n"

const zhPage = "# `graylane x`：一个页面\n" +
	"\n" +
	"[English](x.md)\n" +
	"\n" +
	"简介，见[另一页](y.zh-CN.md#the-part)和[下文](#flags)。\n" +
	"\n" +
	"```sh\n" +
	"# 准备\n" +
	"graylane x -f a.yaml   # 运行\n" +
	"```\n" +
	"\n" +
	"<a id=\"flags\"></a>\n" +
	"## 参数\n" +
	"\n" +
	"| 参数 | 含义 |\n" +
	"|---|---|\n" +
	"| `-f` | 一个文件 |\n" +
	"| `--wait` | 等待 |\n" +
	"\n" +
	"### 输出\n" +
	"\n" +
	"```\n" +
	"status: 200 (matched)\n" +
	"```\n"

const enOther = "# Y\n\n[中文说明](y.zh-CN.md)\n\n## The part\n\nBack to [x](x.md).\n"
const zhOther = "# Y\n\n[English](y.md)\n\n<a id=\"the-part\"></a>\n## 那一部分\n\n回到 [x](x.zh-CN.md)。\n"

func tree(replace map[string]string) fstest.MapFS {
	files := map[string]string{
		"docs/x.md": enPage, "docs/x.zh-CN.md": zhPage,
		"docs/y.md": enOther, "docs/y.zh-CN.md": zhOther,
		"README.md": "# R\n\n[中文说明](README.zh-CN.md)\n", "README.zh-CN.md": "# R\n\n[English](README.md)\n",
	}
	for k, v := range replace {
		if v == "" {
			delete(files, k)
		} else {
			files[k] = v
		}
	}
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return fsys
}

// edit replaces old by new in s, which must contain old once.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("edit: %q occurs %d times", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, new, 1)
}

func TestCheckerFindsWhatIsOutOfStep(t *testing.T) {
	tests := []struct {
		name    string
		replace map[string]string
		want    []string
	}{
		{name: "in step"},
		{
			name:    "missing translation",
			replace: map[string]string{"docs/y.zh-CN.md": ""},
			want: []string{
				"docs/y.md: no Chinese translation: create docs/y.zh-CN.md with the same headings, code blocks, tables and links",
				`docs/x.zh-CN.md:5: link "y.zh-CN.md#the-part": docs/y.zh-CN.md does not exist`,
			},
		},
		{
			name:    "translation without original",
			replace: map[string]string{"examples/README.zh-CN.md": "# 示例\n"},
			want:    []string{"examples/README.zh-CN.md: no English original examples/README.md"},
		},
		{
			name:    "heading level",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "### 输出", "## 输出")},
			want: []string{
				`docs/x.zh-CN.md:20: heading 3 "## 输出" is level 2, English heading 3 docs/x.md:19 "### Output" is level 3`,
			},
		},
		{
			name:    "heading added in English",
			replace: map[string]string{"docs/x.md": enPage + "\n## Exit codes\n"},
			want: []string{
				`docs/x.zh-CN.md: English heading 4 docs/x.md:25 "## Exit codes" has no counterpart; it belongs after heading 3 (docs/x.zh-CN.md:20)`,
			},
		},
		{
			name:    "code in heading",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "# `graylane x`：", "# graylane x：")},
			want: []string{
				"docs/x.zh-CN.md:1: heading 1 \"# graylane x：一个页面\" has code none, English heading 1 docs/x.md:1 \"# `graylane x`: a page\" has `graylane x` (code in headings stays as in English)",
			},
		},
		{
			name:    "code line changed",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "graylane x -f a.yaml", "graylane x -f b.yaml")},
			want: []string{
				`docs/x.zh-CN.md:9: code line "graylane x -f b.yaml", English docs/x.md:9: "graylane x -f a.yaml" (comments aside) (code block 1, English docs/x.md:7)`,
			},
		},
		{
			name:    "output translated",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "status: 200 (matched)", "状态：200（匹配）")},
			want: []string{
				`docs/x.zh-CN.md:23: code line "状态：200（匹配）", English docs/x.md:22: "status: 200 (matched)" (comments aside) (code block 2, English docs/x.md:21)`,
			},
		},
		{
			name:    "code block added in English",
			replace: map[string]string{"docs/x.md": enPage + "\n```json\n{}\n```\n"},
			want: []string{
				"docs/x.zh-CN.md: English code block 3 docs/x.md:25 (```json, first line \"{}\") has no counterpart; it belongs after code block 2 (docs/x.zh-CN.md:22)",
			},
		},
		{
			name:    "section added in English while another changed",
			replace: map[string]string{"docs/x.md": edit(t, edit(t, enPage, "### Output", "## Exit codes\n\n```sh\necho $?\n```\n\n### Output"), "status: 200 (matched)", "status: 404 (no route)")},
			want: []string{
				`docs/x.zh-CN.md: English heading 3 docs/x.md:19 "## Exit codes" has no counterpart; it belongs after heading 2 (docs/x.zh-CN.md:13)`,
				"docs/x.zh-CN.md: English code block 2 docs/x.md:21 (```sh, first line \"echo $?\") has no counterpart; it belongs after code block 1 (docs/x.zh-CN.md:7)",
				`docs/x.zh-CN.md:23: code line "status: 200 (matched)", English docs/x.md:28: "status: 404 (no route)" (comments aside) (code block 2, English docs/x.md:27)`,
			},
		},
		{
			name:    "fence language",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "```sh", "```console")},
			want: []string{
				`docs/x.zh-CN.md:7: code block fence says "console", English says "sh" (code block 1, English docs/x.md:7)`,
			},
		},
		{
			name:    "table row added in English",
			replace: map[string]string{"docs/x.md": edit(t, enPage, "| `--wait` | wait |\n", "| `--wait` | wait |\n| `--timeout` | how long |\n")},
			want: []string{
				"docs/x.zh-CN.md:15: English row 4 docs/x.md:18 \"| `--timeout` | how long |\" has no counterpart; it belongs after row 3 (docs/x.zh-CN.md:18) (table 1, English docs/x.md:14)",
			},
		},
		{
			name:    "table row inserted in English",
			replace: map[string]string{"docs/x.md": edit(t, enPage, "| `-f` | a file |\n", "| `-n` | namespace |\n| `-f` | a file |\n")},
			want: []string{
				"docs/x.zh-CN.md:15: English row 2 docs/x.md:16 \"| `-n` | namespace |\" has no counterpart; it belongs after row 1 (docs/x.zh-CN.md:15) (table 1, English docs/x.md:14)",
			},
		},
		{
			name:    "table cells",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "| `-f` | 一个文件 |", "| `-f` | 一个 | 文件 |")},
			want: []string{
				"docs/x.zh-CN.md:17: row 2 has 3 cells, English docs/x.md:16 has 2 (table 1, English docs/x.md:14)",
			},
		},
		{
			name:    "link to the English page",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "(y.zh-CN.md#the-part)", "(y.md#the-part)")},
			want: []string{
				`docs/x.zh-CN.md:5: link "y.md#the-part" goes to the English page docs/y.md; link its translation y.zh-CN.md#the-part`,
			},
		},
		{
			name:    "link dropped",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "和[下文](#flags)", "")},
			want: []string{
				"docs/x.zh-CN.md: no link to x.zh-CN.md#flags; English docs/x.md links to it at line 5",
			},
		},
		{
			name:    "anchor missing",
			replace: map[string]string{"docs/y.zh-CN.md": edit(t, zhOther, "<a id=\"the-part\"></a>\n", "")},
			want: []string{
				`docs/x.zh-CN.md:5: link "y.zh-CN.md#the-part": docs/y.zh-CN.md has no heading or <a id> with anchor #the-part: put <a id="the-part"></a> on the line before heading 2 (docs/y.zh-CN.md:5 "## 那一部分"), the translation of docs/y.md:5 "## The part"`,
			},
		},
		{
			name: "English heading renamed",
			replace: map[string]string{
				"docs/y.md": edit(t, enOther, "## The part", "## The piece"),
				"docs/x.md": edit(t, enPage, "y.md#the-part", "y.md#the-piece"),
			},
			want: []string{
				`docs/x.zh-CN.md:5: link to y.zh-CN.md#the-part, which English docs/x.md does not have`,
				`docs/x.zh-CN.md: no link to y.zh-CN.md#the-piece; English docs/x.md links to it at line 5`,
				`docs/y.zh-CN.md:5: <a id="the-part">: English docs/y.md has no heading or id with this anchor (was the English heading renamed?)`,
			},
		},
		{
			name:    "anchor before the wrong heading",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, edit(t, zhPage, "<a id=\"flags\"></a>\n", ""), "### 输出", "<a id=\"flags\"></a>\n### 输出")},
			want: []string{
				`docs/x.zh-CN.md:19: <a id="flags"> stands before heading 3 "### 输出", but belongs before heading 2 "## 参数", the translation of docs/x.md:12 "## Flags"`,
			},
		},
		{
			name:    "no language link",
			replace: map[string]string{"docs/x.zh-CN.md": edit(t, zhPage, "[English](x.md)", "English")},
			want: []string{
				"docs/x.zh-CN.md: no link to docs/x.md before the first section: put [English](x.md) under the title",
			},
		},
		{
			name:    "broken link in both",
			replace: map[string]string{"docs/x.md": enPage + "\nSee [z](z.md).\n", "docs/x.zh-CN.md": zhPage + "\n见 [z](z.md)。\n"},
			want: []string{
				`docs/x.md:25: link "z.md": docs/z.md does not exist`,
				`docs/x.zh-CN.md:26: link "z.md": docs/z.md does not exist`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkAll(tree(tt.replace))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSlugify(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"`graylane route`: where will this request go?", "graylane-route-where-will-this-request-go"},
		{"The bucket hash (stable across versions and machines)", "the-bucket-hash-stable-across-versions-and-machines"},
		{"Canary judge (issue 5)", "canary-judge-issue-5"},
		{"Plan: lock-step weight, lane-wide analysis, promote or roll back together", "plan-lock-step-weight-lane-wide-analysis-promote-or-roll-back-together"},
		{"`--wait`", "--wait"},
		{"指标（`GET /metrics`，独立的 registry）", "指标get-metrics独立的-registry"},
		{"[Links](x.md) and <b>tags</b>", "links-and-tags"},
	}
	for _, tt := range tests {
		if got := slugify(headingText(tt.heading)); got != tt.want {
			t.Errorf("slugify(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
}

func TestSignificantLines(t *testing.T) {
	tests := []struct {
		name  string
		block codeBlock
		want  []string
	}{
		{"sh comments", codeBlock{info: "sh", lines: []string{"# title", "a -H 'x: #1' b   # note", "  # indented", "c"}}, []string{"a -H 'x: #1' b", "c"}},
		{"console output keeps #", codeBlock{info: "console", lines: []string{"$ route   # why", "route: #0 at f.yaml:63"}}, []string{"$ route", "route: #0 at f.yaml:63"}},
		{"yaml", codeBlock{info: "yaml", lines: []string{"a: \"#x\"  # c", "b: 1"}}, []string{"a: \"#x\"", "b: 1"}},
		{"go", codeBlock{info: "go", lines: []string{`x := "http://a" // c`, "// only"}}, []string{`x := "http://a"`}},
		{"plain keeps everything", codeBlock{info: "", lines: []string{"# not a comment", "a  # b"}}, []string{"# not a comment", "a  # b"}},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range significantLines(tt.block) {
			got = append(got, l.text)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestParseDoc(t *testing.T) {
	d := parseDoc("d.md", "# T\n\n"+
		"- list\n"+
		"  ```yaml\n"+
		"  # [not](a-link.md)\n"+
		"  k: v\n"+
		"  ```\n"+
		"Text `[no](code.md)` and [yes](a.md \"title\") and <a href=\"b.md\">b</a>.\n"+
		"| a \\| b | `c\\|d` |\n"+
		"|---|---|\n"+
		"\n"+
		"[ref]: c.md\n"+
		"## T\n"+
		"````md\n"+
		"```\n"+
		"## inside\n"+
		"````\n")
	got := map[string]any{
		"headings": [][2]any{},
		"blocks":   [][]string{},
		"links":    []string{},
		"tables":   [][]string{},
	}
	for _, h := range d.headings {
		got["headings"] = append(got["headings"].([][2]any), [2]any{h.level, h.slug})
	}
	for _, b := range d.blocks {
		got["blocks"] = append(got["blocks"].([][]string), append([]string{b.info}, b.lines...))
	}
	for _, l := range d.links {
		got["links"] = append(got["links"].([]string), l.target)
	}
	for _, tb := range d.tables {
		for _, r := range tb.rows {
			got["tables"] = append(got["tables"].([][]string), r.cells)
		}
	}
	want := map[string]any{
		"headings": [][2]any{{1, "t"}, {2, "t-1"}},
		"blocks":   [][]string{{"yaml", "# [not](a-link.md)", "k: v"}, {"md", "```", "## inside"}},
		"links":    []string{"a.md", "b.md", "c.md"},
		"tables":   [][]string{{`a \| b`, "`c\\|d`"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseDoc (-want +got):\n%s", diff)
	}
}

// FuzzParseDoc: the parser and the checks never panic on any input.
func FuzzParseDoc(f *testing.F) {
	f.Add(enPage, zhPage)
	f.Add("```\nunclosed", "| a |\n|---|\n| `b")
	f.Add("# [x](#y) <a id=\"y\">", "## `a` ``b`` `")
	f.Fuzz(func(t *testing.T, en, zh string) {
		fsys := fstest.MapFS{
			"docs/a.md":       &fstest.MapFile{Data: []byte(en)},
			"docs/a.zh-CN.md": &fstest.MapFile{Data: []byte(zh)},
		}
		checkAll(fsys)
	})
}

func TestAlign(t *testing.T) {
	// Items are words; the strict predicate is equality, the weaker one the
	// first letter.
	tests := []struct {
		name string
		e, z []string
		want []pairing
	}{
		{"same", []string{"a", "b"}, []string{"a", "b"}, []pairing{{0, 0}, {1, 1}}},
		{"added in English", []string{"a", "new", "b"}, []string{"a", "b"}, []pairing{{0, 0}, {1, -1}, {2, 1}}},
		{"removed in English", []string{"a", "b"}, []string{"a", "old", "b"}, []pairing{{0, 0}, {-1, 1}, {1, 2}}},
		{"changed", []string{"a", "x", "b"}, []string{"a", "y", "b"}, []pairing{{0, 0}, {1, 1}, {2, 2}}},
		{"changed and added", []string{"a", "new", "bee2", "c"}, []string{"a", "bee", "c"}, []pairing{{0, 0}, {1, -1}, {2, 1}, {3, 2}}},
		{"empty", nil, []string{"a"}, []pairing{{-1, 0}}},
	}
	for _, tt := range tests {
		got := align(len(tt.e), len(tt.z),
			func(i, j int) bool { return tt.e[i] == tt.z[j] },
			func(i, j int) bool { return tt.e[i][0] == tt.z[j][0] })
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(pairing{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
