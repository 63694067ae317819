package embedded

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/term"
)

// Console draws graylane up's start-up progress on a terminal: a block of
// lines at the bottom, redrawn in place. Text written through the console
// (the log, the address lines) appears above the block. Once start-up is
// over the block stays as it was last drawn and the console writes through.
type Console struct {
	mu    sync.Mutex
	out   *os.File
	block []string // the lines on screen
	done  bool
}

// NewConsole returns a console on f when f is a terminal that can move
// its cursor (TERM is not "dumb"), else nil.
func NewConsole(f *os.File) *Console {
	if f == nil || !term.IsTerminal(int(f.Fd())) || os.Getenv("TERM") == "dumb" {
		return nil
	}
	return &Console{out: f}
}

// Write writes p above the block (a log handler writes whole lines).
func (c *Console) Write(p []byte) (int, error) { return c.above(c.out, p) }

// Above returns a writer whose text appears above the block: standard
// output, when it is the same terminal.
func (c *Console) Above(w io.Writer) io.Writer { return aboveWriter{c, w} }

type aboveWriter struct {
	c *Console
	w io.Writer
}

func (a aboveWriter) Write(p []byte) (int, error) { return a.c.above(a.w, p) }

func (c *Console) above(w io.Writer, p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || len(c.block) == 0 {
		return w.Write(p)
	}
	c.clear()
	n, err := w.Write(p)
	c.draw()
	return n, err
}

// set replaces the block.
func (c *Console) set(lines []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	width, height := 0, 0
	if w, h, err := term.GetSize(int(c.out.Fd())); err == nil {
		width, height = w, h
	}
	lines = fitBlock(lines, width, height)
	if slices.Equal(lines, c.block) {
		return
	}
	c.clear()
	c.block = lines
	c.draw()
}

// finish leaves the block as it is: later text goes below it.
func (c *Console) finish() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
}

// clear erases the block: the cursor goes to its first line. Called with
// c.mu held.
func (c *Console) clear() {
	if len(c.block) > 0 {
		fmt.Fprintf(c.out, "\r\033[%dA\033[J", len(c.block))
	}
}

// draw writes the block from the cursor on. Called with c.mu held.
func (c *Console) draw() {
	var b strings.Builder
	for _, l := range c.block {
		b.WriteString(l)
		b.WriteString("\n")
	}
	_, _ = io.WriteString(c.out, b.String())
}

// fitBlock cuts lines to the terminal's width (so none wraps and the
// cursor arithmetic holds) and the block to its height.
func fitBlock(lines []string, width, height int) []string {
	if height > 2 && len(lines) > height-1 {
		more := len(lines) - (height - 2)
		lines = append(lines[:height-2:height-2], fmt.Sprintf("  ... %d more lines", more))
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		l = strings.Map(func(r rune) rune {
			switch {
			case r == '\t':
				return ' '
			case r < ' ' || r == 0x7f:
				return -1 // a control character would move the cursor
			}
			return r
		}, l)
		if r := []rune(l); width > 1 && len(r) > width-1 {
			l = string(r[:width-1])
		}
		out[i] = l
	}
	return out
}
