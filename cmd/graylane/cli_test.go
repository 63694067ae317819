package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandPaths lists every command of the tree the CLI runs, hidden ones
// (cobra's __complete) left out.
func commandPaths(root *cobra.Command) []string {
	var out []string
	walk(root, func(c *cobra.Command) {
		for p := c; p != nil; p = p.Parent() {
			if p.Hidden {
				return
			}
		}
		out = append(out, c.CommandPath())
	})
	sort.Strings(out)
	return out
}

// badInput has, for every command, invocations that are bad input (exit
// code 2) and a piece of the message each must print. A command added to
// the tree without a case here fails TestEveryCommandBadInput.
var badInput = map[string][]struct {
	args []string
	want string
}{
	"graylane":                       {{[]string{"nosuch"}, `unknown command "nosuch" for "graylane"`}},
	"graylane apply":                 {{[]string{"apply", "-f", "../../examples/seed004", "--local", "--dry-run=server"}, "--dry-run is for a cluster"}, {[]string{"apply", "-f", "../../examples/seed004", "--local", "--admin", "localhost"}, "missing port"}, {[]string{"apply", "-f", "../../examples/seed004", "--nacos-protocol", "grpc"}, "--nacos-protocol needs --wait"}, {[]string{"apply", "-f", "../../examples/seed004", "--wait", "--nacos-server", "nacos:x"}, "--nacos-server"}, {[]string{"apply", "-f", "../../examples/seed004", "--local", "--nacos-protocol", "grpc"}, "--nacos-protocol is for a cluster"}, {[]string{"apply", "-f", "../../examples/seed004", "--local", "--nacos-insecure-skip-verify"}, "--nacos-insecure-skip-verify is for a cluster"}},
	"graylane completion":            {{[]string{"completion", "nosuch"}, `unknown command "nosuch"`}},
	"graylane completion bash":       {{[]string{"completion", "bash", "x"}, `unknown command "x"`}},
	"graylane completion fish":       {{[]string{"completion", "fish", "x"}, `unknown command "x"`}},
	"graylane completion powershell": {{[]string{"completion", "powershell", "x"}, `unknown command "x"`}},
	"graylane completion zsh":        {{[]string{"completion", "zsh", "x"}, `unknown command "x"`}},
	"graylane convert":               {{[]string{"convert", "-f", "../../examples/nope.yaml"}, "no such file"}},
	"graylane gate":                  {{[]string{"gate", "nosuch"}, `unknown command "nosuch" for "graylane gate"`}, {[]string{"gate", "serve"}, "the gate server is the graylane-gate binary"}, {[]string{"gate", "serve", "--db", "sqlite:///x"}, "unknown flag: --db; the gate server is the graylane-gate binary"}},
	"graylane gate decide":           {{[]string{"gate", "decide"}, "give --user"}, {[]string{"gate", "decide", "--user", "a", "--server", "127.0.0.1:8470"}, "want an http:// or https:// URL"}},
	"graylane gate lane":             {{[]string{"gate", "lane", "nosuch"}, `unknown command "nosuch"`}},
	"graylane gate lane ls":          {{[]string{"gate", "lane", "ls", "--server", "http://127.0.0.1:99999"}, "port 99999 is not 1..65535"}},
	"graylane gate lane rm":          {{[]string{"gate", "lane", "rm"}, "accepts 1 arg(s), received 0"}},
	"graylane gate lane set":         {{[]string{"gate", "lane", "set", "v2", "ten"}, `weight "ten"`}},
	"graylane gate whitelist":        {{[]string{"gate", "whitelist", "nosuch"}, `unknown command "nosuch"`}},
	"graylane gate whitelist add":    {{[]string{"gate", "whitelist", "add", "user", "alice", "v2", "--expires", "tomorrow"}, "want RFC 3339"}},
	"graylane gate whitelist import": {{[]string{"gate", "whitelist", "import", "../../examples/nope.csv"}, "open CSV"}},
	"graylane gate whitelist ls":     {{[]string{"gate", "whitelist", "ls", "-o", "xml"}, "--output"}},
	"graylane gate whitelist rm":     {{[]string{"gate", "whitelist", "rm", "user"}, "accepts 2 arg(s), received 1"}},
	"graylane get":                   {{[]string{"get", "workloads"}, "add --local"}, {[]string{"get", "workloads", "--local", "--admin", "127.0.0.1:99999"}, `port "99999"`}},
	"graylane help":                  {{[]string{"help", "nosuch"}, `unknown command "nosuch" for "graylane"`}, {[]string{"help", "lane", "nosuch"}, `unknown command "nosuch" for "graylane lane"`}},
	"graylane lane":                  {{[]string{"lane", "nosuch"}, `unknown command "nosuch" for "graylane lane"`}},
	"graylane lane abort":            {{[]string{"lane", "abort", "gray"}, "add --local"}},
	"graylane lane get":              {{[]string{"lane", "get", "--local"}, "accepts 1 arg(s), received 0"}},
	"graylane lane list":             {{[]string{"lane", "list", "--local", "--admin", "http://127.0.0.1:0/"}, "port 0 is not 1..65535"}},
	"graylane lane pause":            {{[]string{"lane", "pause", "gray", "extra", "--local"}, "accepts 1 arg(s), received 2"}},
	"graylane lane promote":          {{[]string{"lane", "promote", "gray"}, "add --local"}},
	"graylane lane resume":           {{[]string{"lane", "resume", "gray", "--local", "--admin", "not-an-addr"}, "missing port"}},
	"graylane lane retry":            {{[]string{"lane", "retry", "gray", "--local", "--timeout", "soon"}, "invalid argument"}},
	"graylane lane sign":             {{[]string{"lane", "sign", "GRAY", "--key-file", "nope.key"}, `lane name "GRAY": a lowercase RFC 1123 label`}, {[]string{"lane", "sign", "base", "--key-file", "nope.key"}, `"base" means "no lane"`}, {[]string{"lane", "sign", "gray"}, "--key-file is required"}},
	"graylane nacos":                 {{[]string{"nacos", "nosuch"}, `unknown command "nosuch" for "graylane nacos"`}},
	"graylane nacos scan":            {{[]string{"nacos", "scan", "-f", "x.yaml", "--local"}, "give one of -f"}, {[]string{"nacos", "scan", "--local", "--prometheus", "localhost:9090"}, "want an http:// or https:// URL"}, {[]string{"nacos", "scan", "--local", "--data-id", "mesh.json"}, `--data-id "mesh.json"`}, {[]string{"nacos", "scan", "-f", "testdata/no-such-dir"}, "no-such-dir"}, {[]string{"nacos", "scan", "-o", "xml"}, "--output"}, {[]string{"nacos", "scan", "--window", "500ms"}, "--window 500ms: want at least 1s"}},
	"graylane nacos fix":             {{[]string{"nacos", "fix", "--local", "--kubeconfig", "k"}, "give one of -f"}, {[]string{"nacos", "fix", "--local", "--server", "ftp://nacos"}, "--server"}, {[]string{"nacos", "fix", "-f", "testdata/no-such-dir"}, "no-such-dir"}, {[]string{"nacos", "fix", "--dry-run", "-o", "xml"}, "--output"}},
	"graylane nacos serve":           {{[]string{"nacos", "serve", "--addr", "127.0.0.1:99999"}, `--addr "127.0.0.1:99999": port "99999"`}, {[]string{"nacos", "serve", "--addr", "127.0.0.1:65000"}, "leaves no room for gRPC"}, {[]string{"nacos", "serve", "-o", "xml"}, `--output "xml": want text, json or yaml`}, {[]string{"nacos", "serve", "--username", "nacos"}, "needs --password"}},
	"graylane lint":                  {{[]string{"lint", "-f", "../../examples/nope.yaml"}, "no such file"}},
	"graylane logs":                  {{[]string{"logs", "order"}, "add --local"}, {[]string{"logs", "--local"}, "accepts 1 arg(s), received 0"}},
	"graylane render":                {{[]string{"render", "-f", "../../examples/nope.yaml"}, "no such file"}},
	"graylane rollout":               {{[]string{"rollout", "nosuch"}, `unknown command "nosuch" for "graylane rollout"`}},
	"graylane rollout abort":         {{[]string{"rollout", "abort", "order"}, "kubectl argo rollouts"}},
	"graylane rollout get":           {{[]string{"rollout", "get", "order"}, "add --local"}},
	"graylane rollout list":          {{[]string{"rollout", "list", "extra", "--local"}, `unknown command "extra"`}},
	"graylane rollout pause":         {{[]string{"rollout", "pause", "--local"}, "accepts 1 arg(s), received 0"}},
	"graylane rollout promote":       {{[]string{"rollout", "promote", "order", "--local", "--admin", ":15000"}, "want the HOST:PORT"}},
	"graylane rollout resume":        {{[]string{"rollout", "resume", "order", "--local", "-o", "xml"}, "--output"}},
	"graylane rollout retry":         {{[]string{"rollout", "retry", "order", "--local", "--wait=maybe"}, "invalid argument"}},
	"graylane rollout set":           {{[]string{"rollout", "set", "nosuch"}, `unknown command "nosuch" for "graylane rollout set"`}},
	"graylane rollout set image":     {{[]string{"rollout", "set", "image", "order", "nginx", "--local"}, "want CONTAINER=IMAGE"}},
	"graylane route":                 {{[]string{"route", "-f", "../../examples/seed004", "--url", "ftp://a/"}, "--url"}, {[]string{"route", "-f", "../../examples/seed004", "--url", "http://a/", "--outbound-traffic-policy", "none"}, "--outbound-traffic-policy"}},
	"graylane sample":                {{[]string{"sample", "--port", "99999"}, `invalid --port "99999"`}},
	"graylane simulate":              {{[]string{"simulate", "-f", "../../examples/seed004", "--url", "http://appa:8000/", "--calls", "appa->appb", "--requests", "0"}, "--requests 0"}},
	"graylane up":                    {{[]string{"up", "--gateway-port", "99999"}, "--gateway-port 99999: want a port 0..65535"}, {[]string{"up", "--admin", "not-an-addr"}, `--admin "not-an-addr": missing port`}, {[]string{"up", "--client-proxy", "127.0.0.1:http"}, `port "http"`}, {[]string{"up", "--prometheus", "localhost:9090"}, "want an http:// or https:// URL"}, {[]string{"up", "--nacos=127.0.0.1:65000"}, "--nacos \"127.0.0.1:65000\": port 65000 leaves no room for gRPC"}, {[]string{"up", "-o", "xml"}, "--output"}, {[]string{"up", "--max-request-headers-kb", "0"}, "--max-request-headers-kb 0: want 1..8192"}, {[]string{"up", "--max-connections", "-5"}, "--max-connections -5: want 1..1073741824, or -1 for no limit"}, {[]string{"up", "--nacos-server", "ftp://nacos"}, `--nacos-server: nacos server "ftp://nacos": want http://HOST:PORT`}, {[]string{"up", "--nacos-protocol", "udp"}, `--nacos-protocol: nacos protocol "udp"`}, {[]string{"up", "--outbound-traffic-policy", "deny"}, `--outbound-traffic-policy: outbound traffic policy "deny": want allow-any or registry-only`}},
	"graylane version":               {{[]string{"version", "extra"}, `unknown command "extra" for "graylane version"`}},
}

// TestEveryCommandBadInput walks the whole command tree: every command
// has bad-input cases above, each exits 2 with its message and starts
// nothing, and an unknown flag is bad input everywhere.
func TestEveryCommandBadInput(t *testing.T) {
	t.Setenv("GRAYLANE_ADMIN", "")
	paths := commandPaths(newRootCmd(io.Discard, io.Discard))
	var want []string
	for p := range badInput {
		want = append(want, p)
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("commands in the tree (+) without bad-input cases, or cases (-) for commands that do not exist:\n%s", diff)
	}
	for _, path := range paths {
		cases := badInput[path]
		words := strings.Fields(path)[1:]
		cases = append(cases, struct {
			args []string
			want string
		}{append(slices.Clone(words), "--no-such-flag"), "unknown flag: --no-such-flag"})
		for _, tc := range cases {
			var out bytes.Buffer
			code := run(context.Background(), tc.args, &out, &out)
			if code != 2 || !strings.Contains(out.String(), tc.want) {
				t.Errorf("graylane %s: exit %d, want 2 with %q; output:\n%s", strings.Join(tc.args, " "), code, tc.want, out.String())
			}
		}
	}
}

// TestHelp walks the tree: every command has an example whose graylane
// invocations name existing commands and flags (with values that parse),
// says its exit codes, and no flag's help text turns a backquoted word
// into the placeholder of its value (pflag's UnquoteUsage).
func TestHelp(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	walk(root, func(c *cobra.Command) {
		if c.Hidden || (c.HasParent() && c.Parent().Hidden) {
			return
		}
		path := c.CommandPath()
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no Example", path)
		}
		if !strings.Contains(c.Long, "Exit codes:") {
			t.Errorf("%s: the help does not say its exit codes", path)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				name, _ := pflag.UnquoteUsage(f)
				t.Errorf("%s --%s: backquotes in the help make %q its placeholder", path, f.Name, name)
			}
		})
		invocations := exampleInvocations(c.Example)
		if len(invocations) == 0 && c.Example != "" {
			t.Errorf("%s: the example runs no graylane command:\n%s", path, c.Example)
		}
		runsIt := false
		for _, args := range invocations {
			fresh := newRootCmd(io.Discard, io.Discard)
			cmd, rest, err := fresh.Find(args)
			if err == nil {
				cmd.InitDefaultHelpFlag()
				err = cmd.ParseFlags(rest)
			}
			if err == nil && cmd.HasSubCommands() {
				err = unknownSubcommand(cmd, cmd.Flags().Args())
			}
			if err != nil {
				t.Errorf("%s: example graylane %s: %v", path, strings.Join(args, " "), err)
				continue
			}
			runsIt = runsIt || cmd.CommandPath() == path
		}
		if !runsIt && !c.HasSubCommands() {
			t.Errorf("%s: no example runs it:\n%s", path, c.Example)
		}
	})
}

// exampleInvocations returns the arguments of every graylane invocation in
// an example: after the word "graylane", up to the end of the command (a
// ")", "|", ";", "&", a redirection or a comment), with shell quotes
// removed and backslash-newlines joined.
func exampleInvocations(example string) [][]string {
	text := strings.ReplaceAll(example, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(text, "\n") {
		words := shellWords(line)
		for i, w := range words {
			if w.word == "graylane" && !w.quoted {
				var args []string
				for _, a := range words[i+1:] {
					if a.op {
						break
					}
					args = append(args, a.word)
				}
				out = append(out, args)
			}
		}
	}
	return out
}

type shellWord struct {
	word       string
	quoted, op bool
}

// shellWords splits a line the way a shell would, enough for examples:
// '...' and "..." quote, $( and an operator end a word (op), # starts a
// comment.
func shellWords(line string) []shellWord {
	var out []shellWord
	var cur strings.Builder
	inWord, quoted := false, false
	flush := func() {
		if inWord {
			out = append(out, shellWord{word: cur.String(), quoted: quoted})
		}
		cur.Reset()
		inWord, quoted = false, false
	}
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(line[i+1:], ch)
			if end < 0 {
				end = len(line) - i - 1
			}
			inner := line[i+1 : i+1+end]
			if ch == '"' && strings.Contains(inner, "$(") {
				// A command substitution inside double quotes: its words count.
				flush()
				out = append(out, shellWord{op: true})
				out = append(out, shellWords(inner[strings.Index(inner, "$(")+2:])...)
				out = append(out, shellWord{op: true})
			} else {
				cur.WriteString(inner)
				inWord, quoted = true, true
			}
			i += end + 1
		case ch == ' ' || ch == '\t':
			flush()
		case ch == '#' && !inWord:
			flush()
			return out
		case strings.IndexByte("()|;&<>$", ch) >= 0:
			flush()
			out = append(out, shellWord{op: true})
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return out
}

func TestExampleInvocations(t *testing.T) {
	got := exampleInvocations(`  curl -H "x-graylane: $(graylane lane sign gray --key-file lane.key)" http://x/
  graylane simulate --calls 'a->b' -f x   # a comment
  printf 'user,carol\n' | graylane gate whitelist import - --created-by ci
  graylane gate serve --db sqlite:///x \
      --listen :8470
  source <(graylane completion zsh) > "graylane.sh"`)
	want := [][]string{
		{"lane", "sign", "gray", "--key-file", "lane.key"},
		{"simulate", "--calls", "a->b", "-f", "x"},
		{"gate", "whitelist", "import", "-", "--created-by", "ci"},
		{"gate", "serve", "--db", "sqlite:///x", "--listen", ":8470"},
		{"completion", "zsh"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// lockedBuffer is a bytes.Buffer that a running command may write to while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startUp runs `graylane up ARGS` in this process until the test ends and
// returns the admin address it prints.
func startUp(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"up", "--gateway-port", "0", "--admin", "127.0.0.1:0", "--client-proxy", ""}, args...), pw, &stderr)
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("graylane up exited %d: %s", code, stderr.String())
		}
	})
	admin := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "admin: http://"); ok {
				admin <- a
			}
		}
		close(admin)
	}()
	select {
	case a, ok := <-admin:
		if !ok {
			t.Fatalf("graylane up stopped before it was ready: %s", stderr.String())
		}
		return a
	case <-time.After(2 * time.Minute):
		t.Fatalf("graylane up not ready: %s", stderr.String())
	}
	return ""
}

// TestRuntimeAnswers runs commands against a real `graylane up`: what the
// runtime refuses (4xx) is bad input, exit 2; what it does is 0; a runtime
// that cannot be reached is a failure, 1.
func TestRuntimeAnswers(t *testing.T) {
	t.Setenv("GRAYLANE_ADMIN", "")
	admin := startUp(t, "-f", "../../examples/seed004/routing.yaml", "-f", "../../examples/seed004/gateway.yaml")
	dir := t.TempDir()
	unmapped := filepath.Join(dir, "nginx.yaml")
	if err := os.WriteFile(unmapped, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"get", "routes"}, 0, "default/vs-appb"},
		{[]string{"get", "services"}, 0, "HOST"},
		{[]string{"lane", "list"}, 0, "NAMESPACE"},
		{[]string{"rollout", "list"}, 0, "NAMESPACE"},
		{[]string{"lane", "promote", "gray"}, 2, "runtime answered 404: lane default/gray not found"},
		{[]string{"lane", "abort", "gray", "-n", "shop"}, 2, "runtime answered 404"},
		{[]string{"lane", "get", "gray", "-n", "shop"}, 2, "lane shop/gray not found"},
		{[]string{"rollout", "set", "image", "order", "order=graylane/sample:2.0"}, 2, "runtime answered 404: rollout default/order not found"},
		{[]string{"rollout", "promote", "order"}, 2, "runtime answered 404"},
		{[]string{"rollout", "get", "order", "--wait"}, 2, "rollout default/order not found"},
		{[]string{"get", "nodes"}, 2, `get "nodes": want workloads, services, serviceentries or routes`},
		{[]string{"apply", "-f", unmapped}, 2, "runtime answered 4"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		args := append(tc.args, "--local", "--admin", admin)
		if code := run(context.Background(), args, &out, &out); code != tc.wantCode || !strings.Contains(out.String(), tc.want) {
			t.Errorf("graylane %s: exit %d, want %d with %q; output:\n%s", strings.Join(args, " "), code, tc.wantCode, tc.want, out.String())
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"get", "routes", "--local", "--admin", "127.0.0.1:1"}, &out, &out); code != 1 {
		t.Errorf("unreachable runtime: exit %d, want 1: %s", code, out.String())
	}
}

// Only apply --wait publishes canary configuration: without it the
// GRAYLANE_NACOS_* variables (set for nacos scan, say) are not read, so a
// value apply --wait would refuse does not stop a plain apply.
func TestApplyWithoutWaitIgnoresNacosEnv(t *testing.T) {
	t.Setenv("GRAYLANE_NACOS_SERVER", "ftp://nacos")
	t.Setenv("GRAYLANE_NACOS_INSECURE_SKIP_VERIFY", "maybe")
	kubeconfig := filepath.Join(t.TempDir(), "no-kubeconfig")
	args := []string{"apply", "-f", "../../examples/seed004", "--kubeconfig", kubeconfig}
	var out bytes.Buffer
	run(context.Background(), args, &out, &out)
	if !strings.Contains(out.String(), "load kubeconfig") || strings.Contains(out.String(), "NACOS") {
		t.Errorf("graylane %s: want the kubeconfig error, not Nacos's; output:\n%s", strings.Join(args, " "), out.String())
	}
	out.Reset()
	if code := run(context.Background(), append(args, "--wait"), &out, &out); code != 2 || !strings.Contains(out.String(), "GRAYLANE_NACOS_INSECURE_SKIP_VERIFY") {
		t.Errorf("with --wait: exit %d, want 2 naming GRAYLANE_NACOS_INSECURE_SKIP_VERIFY; output:\n%s", code, out.String())
	}
}
