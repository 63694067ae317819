//go:build linux

package dataplane

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestSockIOWriteAwait: a write that expects an answer returns once the
// answer arrives (or its wait ends), and the answer is then read whole;
// a write larger than the socket buffers is written whole without
// waiting; a deadline passed while waiting is the next read's error.
func TestSockIOWriteAwait(t *testing.T) {
	t.Run("answer after the write", func(t *testing.T) {
		c, s := tcpPair(t)
		sock := new(sockIO)
		rw, raw := sock.reset(c, 0)
		if !raw {
			t.Fatal("a TCP connection is not read raw")
		}
		go func() {
			b := make([]byte, 7)
			if _, err := io.ReadFull(s, b); err == nil && string(b) == "request" {
				_, _ = s.Write([]byte("answer"))
			}
		}()
		sock.expectAnswer()
		n, err := rw.Write([]byte("request"))
		sock.clearAnswer()
		if n != 7 || err != nil {
			t.Fatalf("Write = %d, %v; want 7, nil", n, err)
		}
		if !peerClosed(c) { // MSG_PEEK without waiting
			t.Fatal("Write returned before the answer arrived")
		}
		// The answer is there: one read takes it whole.
		b := make([]byte, 16)
		n, err = rw.Read(b)
		if err != nil || string(b[:n]) != "answer" {
			t.Fatalf("Read = %q, %v; want %q", b[:n], err, "answer")
		}
	})
	t.Run("larger than the socket buffers", func(t *testing.T) {
		c, s := tcpPair(t)
		sock := new(sockIO)
		rw, _ := sock.reset(c, 0)
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(s)
			got <- b
		}()
		sock.expectAnswer()
		n, err := rw.Write(big)
		sock.clearAnswer()
		if n != len(big) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(big))
		}
		_ = c.Close()
		if b := <-got; !bytes.Equal(b, big) {
			t.Fatalf("peer read %d bytes, want the %d written", len(b), len(big))
		}
	})
	t.Run("deadline while waiting", func(t *testing.T) {
		c, _ := tcpPair(t)
		sock := new(sockIO)
		rw, _ := sock.reset(c, 0)
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		sock.expectAnswer()
		n, err := rw.Write([]byte("request"))
		sock.clearAnswer()
		if n != 7 || err != nil {
			t.Fatalf("Write = %d, %v; want 7, nil (the wait's end is not the write's)", n, err)
		}
		if _, err := rw.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read after the deadline: %v, want a deadline error", err)
		}
	})
}
