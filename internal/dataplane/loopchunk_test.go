//go:build linux

package dataplane

import (
	"fmt"
	"testing"
)

// FuzzChunkScan: a chunked body scanned in pieces ends where, and as,
// it does scanned whole; a valid body built from the fuzzer's chunk
// sizes ends exactly at its last byte, whatever follows it.
func FuzzChunkScan(f *testing.F) {
	f.Add([]byte("5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), []byte{3, 1, 7}, []byte{5, 0, 17}, true)
	f.Add([]byte("3\r\nabc\r\n0\r\n\r\nGET"), []byte{0}, []byte{255, 1}, false)
	f.Add([]byte("zz\r\n"), []byte{1}, []byte{}, false)
	f.Add([]byte("a\nhello worl\n0\n\n"), []byte{2, 9}, []byte{9}, true)
	f.Add([]byte("fffffffffffffffff\r\n"), []byte{4}, []byte{16}, false)
	f.Fuzz(func(t *testing.T, raw, cuts, sizes []byte, decorate bool) {
		n, done, bad := scanChunks(raw, nil)
		if sn, sdone, sbad := scanChunks(raw, cuts); sn != n || sdone != done || sbad != bad {
			t.Fatalf("%q: in pieces %v: %d %t %t; whole: %d %t %t", raw, cuts, sn, sdone, sbad, n, done, bad)
		}
		body := chunkedOf(sizes, decorate)
		stream := append(append([]byte(nil), body...), "HTTP/1.1 200 OK\r\n"...)
		for _, c := range [][]byte{nil, cuts} {
			if n, done, bad := scanChunks(stream, c); n != len(body) || !done || bad {
				t.Fatalf("%q in pieces %v: %d %t %t, want the end at %d", body, c, n, done, bad, len(body))
			}
		}
	})
}

// scanChunks feeds b to a chunkScan whole (cuts empty), or in pieces of
// 1 to 16 bytes as cuts says, and returns where the body ended (or
// broke), or len(b), and the verdict.
func scanChunks(b, cuts []byte) (int, bool, bool) {
	var s chunkScan
	off := 0
	for i := 0; off < len(b); i++ {
		k := len(b) - off
		if len(cuts) > 0 {
			k = min(k, int(cuts[i%len(cuts)])%16+1)
		}
		n, done, bad := s.feed(b[off : off+k])
		if done || bad {
			return off + n, done, bad
		}
		if n != k {
			return -1, false, false // took part of a piece without ending
		}
		off += k
	}
	return off, false, false
}

// chunkedOf builds a valid chunked body from sizes (each a chunk of 1 to
// 256 bytes, whose data looks like chunk syntax); decorated, with upper
// case and zero-padded sizes, extensions and a trailer.
func chunkedOf(sizes []byte, decorate bool) []byte {
	var b []byte
	for i, sz := range sizes {
		n := int(sz) + 1
		if decorate {
			b = fmt.Appendf(b, "%04X;ext%d=\"v;1\"\r\n", n, i)
		} else {
			b = fmt.Appendf(b, "%x\r\n", n)
		}
		for j := range n {
			b = append(b, "0\r\n\r\n"[(i+j)%5])
		}
		b = append(b, "\r\n"...)
	}
	if decorate {
		return append(b, "000;last\r\nX-Sum: 1\r\nX-Other: a b\r\n\r\n"...)
	}
	return append(b, "0\r\n\r\n"...)
}
