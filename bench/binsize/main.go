// Command binsize reports the size of the graylane binary and what it is
// made of (issue #15 item 15): the file size of a normal build and of a
// -ldflags='-s -w' build, the ELF sections, the bytes of code and data
// each Go module (and, with -packages, each package) contributes, and the
// shortest import chain from the main package that brings each module in:
//
//	go run ./bench/binsize                       # builds ./cmd/graylane twice
//	go run ./bench/binsize -bin /tmp/g           # an existing binary (no -s -w build)
//	go run ./bench/binsize -top 40 -packages     # per package too
//	go run ./bench/binsize -o json > size.json
//
// A module's bytes are the sizes of its symbols in the file's loaded
// sections (.text, .rodata, .data, ...; not .bss), from the ELF symbol
// table, as `go tool nm -size` shows them. The function table
// (.gopclntab), the DWARF and the symbol table itself are not attributed
// to symbols: they grow with the code, roughly in proportion.
package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	bin := flag.String("bin", "", "the binary to measure; empty: build -pkg into a temporary folder (and a -s -w build beside it)")
	pkg := flag.String("pkg", "./cmd/graylane", "the main package to build and to trace imports from")
	top := flag.Int("top", 30, "modules (and packages) to list, largest first")
	packages := flag.Bool("packages", false, "also list the largest packages")
	output := flag.String("o", "text", "output: text or json")
	flag.Parse()
	log.SetFlags(0)
	if *output != "text" && *output != "json" {
		log.Fatalf("binsize: -o %q: want text or json", *output)
	}
	rep, err := measure(*bin, *pkg)
	if err != nil {
		log.Fatalf("binsize: %v", err)
	}
	if *output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			log.Fatal(err)
		}
		return
	}
	printText(os.Stdout, rep, *top, *packages)
}

// report is what binsize measures.
type report struct {
	Binary      string    `json:"binary"`
	Bytes       int64     `json:"bytes"`
	StrippedSW  int64     `json:"strippedBytes,omitempty"` // -ldflags='-s -w' build of the same package, when binsize built it
	GoVersion   string    `json:"goVersion"`
	Sections    []section `json:"sections"`
	SymbolBytes int64     `json:"symbolBytes"` // all attributed symbols
	Modules     []unit    `json:"modules"`
	Packages    []unit    `json:"packages"`
}

type section struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// unit is one module or package: its symbol bytes and, for modules, the
// import chain from the main package to its first package reached.
type unit struct {
	Path     string   `json:"path"`
	Bytes    int64    `json:"bytes"`
	Packages int      `json:"packages,omitempty"`
	Chain    []string `json:"chain,omitempty"`
}

func measure(bin, pkg string) (*report, error) {
	rep := &report{}
	if bin == "" {
		dir, err := os.MkdirTemp("", "binsize-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "bin")
		if err := goBuild(pkg, bin); err != nil {
			return nil, err
		}
		sw := filepath.Join(dir, "bin-sw")
		if err := goBuild(pkg, sw, "-ldflags=-s -w"); err != nil {
			return nil, err
		}
		st, err := os.Stat(sw)
		if err != nil {
			return nil, err
		}
		rep.StrippedSW = st.Size()
		rep.Binary = "go build " + pkg
	} else {
		rep.Binary = bin
	}
	st, err := os.Stat(bin)
	if err != nil {
		return nil, err
	}
	rep.Bytes = st.Size()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read build info of %s: %w", bin, err)
	}
	rep.GoVersion = info.GoVersion
	mods := []string{info.Main.Path}
	for _, d := range info.Deps {
		mods = append(mods, d.Path)
	}
	f, err := elf.Open(bin)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", bin, err)
	}
	defer f.Close()
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Size == 0 {
			continue
		}
		rep.Sections = append(rep.Sections, section{Name: s.Name, Bytes: int64(s.Size)})
	}
	sort.Slice(rep.Sections, func(i, j int) bool { return rep.Sections[i].Bytes > rep.Sections[j].Bytes })
	byPkg, total, err := symbolBytes(f)
	if err != nil {
		return nil, err
	}
	rep.SymbolBytes = total
	rep.Packages = sorted(byPkg, nil)
	byMod := map[string]int64{}
	pkgsOf := map[string]int{}
	for p, n := range byPkg {
		m := moduleOf(p, mods)
		byMod[m] += n
		pkgsOf[m]++
	}
	rep.Modules = sorted(byMod, pkgsOf)
	chains, err := importChains(pkg, mods)
	if err != nil {
		// The chains need the source (go list); a binary measured
		// elsewhere still gets its sizes.
		log.Printf("binsize: no import chains: %v", err)
	}
	for i := range rep.Modules {
		rep.Modules[i].Chain = chains[rep.Modules[i].Path]
	}
	return rep, nil
}

func goBuild(pkg, out string, flags ...string) error {
	args := append([]string{"build", "-o", out}, flags...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(cmd.Args[1:], " "), err)
	}
	return nil
}

// symbolBytes sums the sizes of the symbols in loaded sections with
// contents (not .bss/.noptrbss: they take no room in the file), by
// package.
func symbolBytes(f *elf.File) (map[string]int64, int64, error) {
	syms, err := f.Symbols()
	if err != nil {
		return nil, 0, fmt.Errorf("read symbols: %w", err)
	}
	byPkg := map[string]int64{}
	var total int64
	for _, s := range syms {
		if s.Size == 0 || int(s.Section) <= 0 || int(s.Section) >= len(f.Sections) {
			continue
		}
		sec := f.Sections[s.Section]
		if sec.Type == elf.SHT_NOBITS || sec.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		byPkg[packageOf(s.Name)] += int64(s.Size)
		total += int64(s.Size)
	}
	return byPkg, total, nil
}

// packageOf returns the import path of a Go symbol name: the text up to
// the first dot after the last slash, once the linker's prefixes (type:,
// go:itab., ...) and pointer stars are taken off. Names that belong to no
// package (go:func.*, runtime tables) come back as "(linker)".
func packageOf(name string) string {
	for _, p := range []string{"type:", "go:itab.", "go:string.", "go:info.", "go:cuinfo.", "go.shape."} {
		name = strings.TrimPrefix(name, p)
	}
	for _, p := range []string{".eq.", ".hash.", ".namedata.", ".gcmask."} { // type:.eq.PKG.T, the generated equality
		name = strings.TrimPrefix(name, p)
	}
	name = strings.TrimLeft(name, "*[]")
	if strings.HasPrefix(name, "go:") || name == "" {
		return "(linker)"
	}
	// A generic instance names its type arguments in brackets
	// (slices.Sort[[]k8s.io/api/core/v1.Pod]), an itab its interface after
	// a comma: the package is before them.
	if i := strings.IndexAny(name, "[,"); i >= 0 {
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return "(linker)"
	}
	p := name[:slash+1+dot]
	if strings.ContainsAny(p, " ($") {
		return "(linker)" // struct { ... } types, $f64 constants, net(.text)
	}
	// The linker escapes dots in the last element (gopkg.in/yaml%2ev3).
	return strings.ReplaceAll(p, "%2e", ".")
}

// moduleOf returns the module that holds package p (the longest module
// path that is p or a prefix of it at a slash), "std" for the standard
// library (no dot in the first path element).
func moduleOf(p string, mods []string) string {
	best := ""
	for _, m := range mods {
		if (p == m || strings.HasPrefix(p, m+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best != "" {
		return best
	}
	if p == "(linker)" {
		return p
	}
	if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
		return "(no module in the build info)"
	}
	return "std"
}

func sorted(by map[string]int64, counts map[string]int) []unit {
	out := make([]unit, 0, len(by))
	for p, n := range by {
		out = append(out, unit{Path: p, Bytes: n, Packages: counts[p]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// importChains runs `go list -deps -json PKG` and returns, for each
// module, the shortest import chain from PKG to a package of it.
func importChains(pkg string, mods []string) (map[string][]string, error) {
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports", pkg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	imports := map[string][]string{}
	var root string
	dec := json.NewDecoder(&out)
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		imports[p.ImportPath] = p.Imports
		root = p.ImportPath // -deps lists the main package last
	}
	return shortestChains(root, imports, func(p string) string { return moduleOf(p, mods) }), nil
}

// shortestChains walks the import graph breadth first from root and
// returns, per module, the path to the first of its packages reached.
func shortestChains(root string, imports map[string][]string, module func(string) string) map[string][]string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	chains := map[string][]string{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if m := module(p); chains[m] == nil {
			var chain []string
			for q := p; q != ""; q = parent[q] {
				chain = append([]string{q}, chain...)
			}
			chains[m] = chain
		}
		for _, q := range imports[p] {
			if _, seen := parent[q]; !seen {
				parent[q] = p
				queue = append(queue, q)
			}
		}
	}
	return chains
}

func printText(w io.Writer, rep *report, top int, packages bool) {
	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
	fmt.Fprintf(w, "binary: %s (%s)\n", rep.Binary, rep.GoVersion)
	fmt.Fprintf(w, "size: %s (%d bytes)", mb(rep.Bytes), rep.Bytes)
	if rep.StrippedSW > 0 {
		fmt.Fprintf(w, "; -ldflags='-s -w': %s (%d bytes)", mb(rep.StrippedSW), rep.StrippedSW)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\nsections:")
	for _, s := range rep.Sections {
		if s.Bytes >= 100_000 {
			fmt.Fprintf(w, "  %-16s %9.2f MB\n", s.Name, float64(s.Bytes)/1e6)
		}
	}
	fmt.Fprintf(w, "\nsymbols (code and data, without .gopclntab/DWARF/symtab): %s; by module:\n", mb(rep.SymbolBytes))
	for i, m := range rep.Modules {
		if i == top {
			break
		}
		chain := ""
		if len(m.Chain) > 1 {
			chain = "  via " + strings.Join(trimChain(m.Chain), " → ")
		}
		fmt.Fprintf(w, "  %9.3f MB %4d pkgs  %s%s\n", float64(m.Bytes)/1e6, m.Packages, m.Path, chain)
	}
	if !packages {
		return
	}
	fmt.Fprintln(w, "\nby package:")
	for i, p := range rep.Packages {
		if i == top {
			break
		}
		fmt.Fprintf(w, "  %9.3f MB  %s\n", float64(p.Bytes)/1e6, p.Path)
	}
}

// trimChain shortens the module prefix of the main module's packages in a
// chain, for a readable line.
func trimChain(chain []string) []string {
	out := make([]string, len(chain))
	for i, p := range chain {
		out[i] = strings.TrimPrefix(p, "github.com/graylane/graylane/")
	}
	return out
}
