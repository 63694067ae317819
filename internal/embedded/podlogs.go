package embedded

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// DefaultLogMaxBytes bounds one replica's log file: when a write would
// pass it, the file becomes NAME.log.1 (replacing the one before) and a
// new file starts, so a replica keeps at most twice this much.
const DefaultLogMaxBytes = 10 << 20

const (
	stderrTailLines = 5   // the last stderr lines kept to explain an exit
	maxTailLine     = 300 // bytes of one such line
	maxLogLine      = 32 << 10
)

// podLogs is one replica's standard output and error, kept line by line in
// a size-bounded file under the state folder, across restarts.
type podLogs struct {
	path string
	max  int64

	mu      sync.Mutex
	f       *os.File // nil after a failed rotation: writes are dropped until a reopen works
	size    int64
	gen     int // rotations so far
	closed  bool
	changed chan struct{} // closed on every write, rotation and close
	tail    []string      // the last stderr lines of the current run
}

func openPodLogs(path string, max int64) (*podLogs, error) {
	if max <= 0 {
		max = DefaultLogMaxBytes
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &podLogs{path: path, max: max, f: f, size: st.Size(), changed: make(chan struct{})}, nil
}

// write appends whole lines.
func (l *podLogs) write(b []byte, stderr bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.f == nil || (l.size > 0 && l.size+int64(len(b)) > l.max) {
		l.rotate()
	}
	if l.f != nil {
		n, _ := l.f.Write(b)
		l.size += int64(n)
	}
	if stderr {
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if len(line) > maxTailLine {
				line = line[:maxTailLine] + "..."
			}
			l.tail = append(l.tail, line)
		}
		if n := len(l.tail); n > stderrTailLines {
			l.tail = append(l.tail[:0], l.tail[n-stderrTailLines:]...)
		}
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// rotate moves the file to NAME.1 and starts a new one. Called with l.mu held.
func (l *podLogs) rotate() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			_ = os.Remove(l.path)
		}
		l.gen++
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	l.f, l.size = f, 0
}

// newRun forgets the stderr lines of the previous run.
func (l *podLogs) newRun() {
	l.mu.Lock()
	l.tail = nil
	l.mu.Unlock()
}

// stderrTail is the last stderr lines of the current run.
func (l *podLogs) stderrTail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.tail...)
}

// close ends the log: later writes are dropped, followers finish.
func (l *podLogs) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	if l.f != nil {
		l.f.Close()
	}
	close(l.changed)
}

// pump copies one output stream of a process into the log, in whole
// lines (a line longer than 32 KiB is cut into lines of 32 KiB), until
// the stream ends.
func (l *podLogs) pump(r io.Reader, stderr bool) {
	buf := make([]byte, maxLogLine)
	n := 0 // bytes of an unfinished line
	for {
		m, err := r.Read(buf[n:])
		n += m
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			l.write(buf[:i+1], stderr)
			n = copy(buf, buf[i+1:n])
		} else if n == len(buf) {
			l.write(append(buf[:n:n], '\n'), stderr)
			n = 0
		}
		if err != nil {
			if n > 0 {
				l.write(append(buf[:n:n], '\n'), stderr)
			}
			return
		}
	}
}

// lineSink receives log lines (each ending in "\n"); flush is called when
// no more lines are at hand for now.
type lineSink interface {
	line(b []byte) error
	flush() error
}

// copyTo sends the last n lines (n < 0: all) to out, and with follow every
// line written later, until ctx ends or the log is closed (the replica is
// gone).
func (l *podLogs) copyTo(ctx context.Context, n int, follow bool, out lineSink) error {
	l.mu.Lock()
	old, _ := os.Open(l.path + ".1")
	cur, err := os.Open(l.path)
	size, gen := l.size, l.gen
	l.mu.Unlock()
	if old != nil {
		defer old.Close()
	}
	if err != nil {
		return err
	}
	defer func() { cur.Close() }()
	from, found := int64(0), 0
	if n >= 0 {
		from, found = tailOffset(cur, size, n)
	}
	if old != nil && from == 0 && (n < 0 || found < n) {
		st, err := old.Stat()
		if err == nil {
			oldFrom := int64(0)
			if n >= 0 {
				oldFrom, _ = tailOffset(old, st.Size(), n-found)
			}
			if _, err := emitLines(old, oldFrom, st.Size(), out); err != nil {
				return err
			}
		}
	}
	off, err := emitLines(cur, from, size, out)
	if err != nil {
		return err
	}
	if err := out.flush(); err != nil || !follow {
		return err
	}
	for {
		l.mu.Lock()
		changed, g, closed := l.changed, l.gen, l.closed
		l.mu.Unlock()
		if off, err = emitLines(cur, off, -1, out); err != nil {
			return err
		}
		if err := out.flush(); err != nil {
			return err
		}
		if g != gen {
			// cur was moved to NAME.1 and is read to its end: go on
			// with the new file.
			if g > gen+1 {
				if err := out.line([]byte("... (the log was rotated more than once meanwhile: lines left out)\n")); err != nil {
					return err
				}
			}
			l.mu.Lock()
			next, err := os.Open(l.path)
			gen = l.gen
			l.mu.Unlock()
			if err != nil {
				return err
			}
			cur.Close()
			cur, off = next, 0
			continue
		}
		if closed {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// emitLines sends the whole lines of f between off and end (end < 0: the
// end of the file) and returns the offset after the last whole line.
func emitLines(f *os.File, off, end int64, out lineSink) (int64, error) {
	buf := make([]byte, maxLogLine+1)
	n := 0
	for end < 0 || off+int64(n) < end {
		want := len(buf) - n
		if end >= 0 && int64(want) > end-off-int64(n) {
			want = int(end - off - int64(n))
		}
		m, err := f.ReadAt(buf[n:n+want], off+int64(n))
		n += m
		start := 0
		for {
			i := bytes.IndexByte(buf[start:n], '\n')
			if i < 0 {
				break
			}
			if err := out.line(buf[start : start+i+1]); err != nil {
				return off, err
			}
			start += i + 1
		}
		off += int64(start)
		n = copy(buf, buf[start:n])
		if n == len(buf) { // no newline in a full buffer: not one of our lines
			if err := out.line(append(buf[:n:n], '\n')); err != nil {
				return off, err
			}
			off += int64(n)
			n = 0
		}
		if errors.Is(err, io.EOF) || m == 0 {
			break
		}
		if err != nil {
			return off, err
		}
	}
	return off, nil
}

// tailOffset finds where the last n lines of f[0:size] start; it returns
// that offset and how many lines there are from it (fewer than n when the
// file has fewer).
func tailOffset(f *os.File, size int64, n int) (int64, int) {
	if n == 0 || size == 0 {
		return size, 0
	}
	buf := make([]byte, 32<<10)
	count := 0
	for pos := size; pos > 0; {
		start := max(0, pos-int64(len(buf)))
		chunk := buf[:pos-start]
		if _, err := f.ReadAt(chunk, start); err != nil && !errors.Is(err, io.EOF) {
			return pos, count
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' && start+int64(i) != size-1 {
				count++
				if count == n {
					return start + int64(i) + 1, n
				}
			}
		}
		pos = start
	}
	return 0, count + 1
}
