package dataplane

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestSockIO checks that the raw socket reader-writer behaves as the
// net.Conn it stands for: data both ways, a write larger than the socket
// buffers (it must wait for the reader), end of stream, deadlines, a
// connection closed under a blocked read, a write to a reset peer.
func TestSockIO(t *testing.T) {
	t.Run("data both ways, large write, EOF", func(t *testing.T) {
		c, s := tcpPair(t)
		rw := newSockIO(c, 0)
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the socket buffers hold
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(s)
			got <- b
		}()
		n, err := rw.Write(big)
		if err != nil || n != len(big) {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(big))
		}
		c.(*net.TCPConn).CloseWrite()
		if b := <-got; !bytes.Equal(b, big) {
			t.Fatalf("peer read %d bytes, want the %d written", len(b), len(big))
		}
		if _, err := s.Write([]byte("answer")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		b, err := io.ReadAll(rw)
		if err != nil || string(b) != "answer" {
			t.Fatalf("ReadAll = %q, %v; want %q, nil", b, err, "answer")
		}
		if n, err := rw.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("Read after the end = %d, %v; want 0, EOF", n, err)
		}
	})
	t.Run("read deadline", func(t *testing.T) {
		c, _ := tcpPair(t)
		rw := newSockIO(c, 0)
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := rw.Read(make([]byte, 8))
		if !errors.Is(err, os.ErrDeadlineExceeded) || !isClosed(err) {
			t.Fatalf("Read past the deadline: %v; want a timeout", err)
		}
	})
	t.Run("closed under a blocked read", func(t *testing.T) {
		c, _ := tcpPair(t)
		rw := newSockIO(c, 0)
		done := make(chan error, 1)
		go func() {
			_, err := rw.Read(make([]byte, 8))
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		c.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed connection: %v; want net.ErrClosed", err)
		}
	})
	t.Run("write to a reset peer", func(t *testing.T) {
		c, s := tcpPair(t)
		rw := newSockIO(c, 0)
		s.(*net.TCPConn).SetLinger(0)
		s.Close() // RST
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			_, err = rw.Write([]byte("hello"))
			time.Sleep(time.Millisecond)
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "write" {
			t.Fatalf("Write to a reset peer: %v; want a *net.OpError from write", err)
		}
		if _, err := rw.Read(make([]byte, 8)); err == nil {
			t.Fatal("Read from a reset peer: no error")
		}
	})
	t.Run("not TCP", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		if rw := newSockIO(a, 0); rw != io.ReadWriter(a) {
			t.Fatalf("newSockIO(pipe) = %T; want the pipe itself", rw)
		}
	})
}

func isClosed(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout())
}
