package embedded

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lines collects what copyTo sends.
type lines struct {
	mu  sync.Mutex
	got []string
	ch  chan struct{} // signalled on every line
}

func newLines() *lines { return &lines{ch: make(chan struct{}, 1000)} }

func (l *lines) line(b []byte) error {
	l.mu.Lock()
	l.got = append(l.got, string(b))
	l.mu.Unlock()
	l.ch <- struct{}{}
	return nil
}

func (l *lines) flush() error { return nil }

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("line %02d\n", i))
	}
	return out
}

// Two streams are kept in whole lines (in whichever order they come), and
// the last stderr lines are remembered.
func TestPodLogsPump(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ns", "p.log")
	l, err := openPodLogs(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.pump(outR, false) }()
	go func() { defer wg.Done(); l.pump(errR, true) }()
	for i := 1; i <= 30; i++ {
		w := outW
		if i%3 == 0 {
			w = errW
		}
		s := fmt.Sprintf("line %02d\n", i)
		io.WriteString(w, s[:3]) // half lines
		io.WriteString(w, s[3:])
	}
	io.WriteString(errW, "no newline at the end")
	outW.Close()
	errW.Close()
	wg.Wait()
	l.close()
	if got, want := l.stderrTail(), []string{"line 21", "line 24", "line 27", "line 30", "no newline at the end"}; !cmp.Equal(got, want) {
		t.Errorf("stderr tail = %q, want %q", got, want)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The two streams interleave in any order; each line is whole and
	// ends with a newline (the unterminated last one gets it at EOF).
	if !strings.HasSuffix(string(b), "\n") {
		t.Errorf("the log does not end with a newline: %q", b)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	sort.Strings(got)
	var want []string
	for _, s := range numbered(1, 30) {
		want = append(want, strings.TrimSuffix(s, "\n"))
	}
	want = append(want, "no newline at the end")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// A log rotates at its size bound (keeping one older file), and its tail
// spans the rotation.
func TestPodLogsTailAndRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	l, err := openPodLogs(path, 100) // 12 lines of "line NN\n" (8 bytes) per file
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	for _, s := range numbered(1, 30) {
		l.write([]byte(s), false)
	}
	l.write([]byte("no newline at the end\n"), true)
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("no rotated file: %v", err)
	}
	var all []string
	for _, f := range []string{path + ".1", path} {
		b, _ := os.ReadFile(f)
		all = append(all, strings.SplitAfter(string(b), "\n")...)
	}
	tests := []struct {
		n    int
		want []string
	}{
		{0, nil},
		{1, []string{"no newline at the end\n"}},
		{3, append(numbered(29, 30), "no newline at the end\n")},
		{-1, nonEmpty(all)}, // both files
	}
	for _, tc := range tests {
		got := newLines()
		if err := l.copyTo(context.Background(), tc.n, false, got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got.all()); diff != "" {
			t.Errorf("tail %d (-want +got):\n%s", tc.n, diff)
		}
	}
	// A tail longer than the current file reaches into the rotated one.
	cur, _ := os.ReadFile(path)
	n := strings.Count(string(cur), "\n") + 2
	got := newLines()
	if err := l.copyTo(context.Background(), n, false, got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(nonEmpty(all)[len(nonEmpty(all))-n:], got.all()); diff != "" {
		t.Errorf("tail %d across the rotation (-want +got):\n%s", n, diff)
	}
}

// A follower gets the tail, then every later line, across rotations,
// until the log is closed.
func TestPodLogsFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	l, err := openPodLogs(path, 40) // 5 lines per file
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range numbered(1, 3) {
		l.write([]byte(s), false)
	}
	got := newLines()
	done := make(chan error, 1)
	go func() { done <- l.copyTo(context.Background(), 2, true, got) }()
	for range 2 {
		<-got.ch
	}
	for i := 4; i <= 12; i++ {
		l.write([]byte(fmt.Sprintf("line %02d\n", i)), false)
		<-got.ch // one at a time: no rotation is skipped
	}
	l.close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(numbered(2, 12), got.all()); diff != "" {
		t.Errorf("followed (-want +got):\n%s", diff)
	}
}

// A follower stops when its context ends.
func TestPodLogsFollowCancel(t *testing.T) {
	l, err := openPodLogs(filepath.Join(t.TempDir(), "p.log"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	ctx, cancel := context.WithCancel(context.Background())
	got := newLines()
	done := make(chan error, 1)
	go func() { done <- l.copyTo(ctx, -1, true, got) }()
	l.write([]byte("one\n"), false)
	<-got.ch
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTailOffset(t *testing.T) {
	tests := []struct {
		content   string
		n         int
		want      int64
		wantFound int
	}{
		{"", 3, 0, 0},
		{"a\n", 0, 2, 0},
		{"a\n", 1, 0, 1},
		{"a\n", 5, 0, 1},
		{"a\nbb\nccc\n", 1, 5, 1},
		{"a\nbb\nccc\n", 2, 2, 2},
		{"a\nbb\nccc\n", 3, 0, 3},
		{"a\nbb\nccc\n", 4, 0, 3},
		{strings.Repeat("x", 40000) + "\n" + strings.Repeat("y", 40000) + "\n", 1, 40001, 1},
	}
	for _, tc := range tests {
		f, err := os.CreateTemp(t.TempDir(), "t")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(tc.content)
		got, found := tailOffset(f, int64(len(tc.content)), tc.n)
		f.Close()
		if got != tc.want || found != tc.wantFound {
			t.Errorf("tailOffset(%.20q, %d) = %d, %d; want %d, %d", tc.content, tc.n, got, found, tc.want, tc.wantFound)
		}
	}
}

// A line longer than the pump's buffer is cut into lines.
func TestPodLogsLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	l, err := openPodLogs(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	long := bytes.Repeat([]byte("z"), maxLogLine+10)
	l.pump(bytes.NewReader(append(long, '\n')), false)
	l.close()
	b, _ := os.ReadFile(path)
	want := string(long[:maxLogLine]) + "\n" + string(long[maxLogLine:]) + "\n"
	if string(b) != want {
		t.Errorf("log = %d bytes with %d newlines, want the line cut at %d", len(b), bytes.Count(b, []byte("\n")), maxLogLine)
	}
}

func nonEmpty(s []string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}
