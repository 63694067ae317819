package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a real DNS server on loopback (UDP, RFC 1035) that answers
// the A queries of one name with the addresses it is set to, or SERVFAIL.
type dnsServer struct {
	addr    string
	name    string // absolute, with its final dot
	mu      sync.Mutex
	ips     []netip.Addr
	fail    bool
	queries int
}

func newDNSServer(t *testing.T, name string) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	s := &dnsServer{addr: pc.LocalAddr().String(), name: name + "."}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if msg := s.answer(buf[:n]); msg != nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	return s
}

// set has the server answer ips (none: SERVFAIL).
func (s *dnsServer) set(ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ips, s.fail = nil, len(ips) == 0
	for _, ip := range ips {
		s.ips = append(s.ips, netip.MustParseAddr(ip))
	}
}

func (s *dnsServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func (s *dnsServer) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	ours := strings.EqualFold(q.Name.String(), s.name)
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	switch {
	case !ours:
		rh.RCode = dnsmessage.RCodeNameError
	case s.fail:
		rh.RCode = dnsmessage.RCodeServerFailure
	}
	b := dnsmessage.NewBuilder(nil, rh)
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if ours && !s.fail && q.Type == dnsmessage.TypeA {
		for _, ip := range s.ips {
			_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}, dnsmessage.AResource{A: ip.As4()})
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return nil
	}
	return msg
}

// resolver is a Go resolver that asks only s.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
}

// twoHosts starts real HTTP servers on 127.0.0.1 and 127.0.0.2 with the
// same port, answering "one" and "two".
func twoHosts(t *testing.T) (port string, one, two *outside) {
	t.Helper()
	for range 20 {
		ln1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(ln1.Addr().String())
		ln2, err := net.Listen("tcp", "127.0.0.2:"+port)
		if err != nil {
			ln1.Close() // the port is taken on 127.0.0.2: another one
			continue
		}
		return port, serveOutside(t, "one", ln1), serveOutside(t, "two", ln2)
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return "", nil, nil
}

// TestServiceEntryDNS: a ServiceEntry with resolution DNS and no
// endpoints sends to every IPv4 address its host resolves to, in turn
// (Envoy's STRICT_DNS, as istiod configures it), resolved by a real DNS
// server; when the name resolves to other addresses, requests follow
// once it is resolved again; when resolving fails, the last addresses
// stay.
func TestServiceEntryDNS(t *testing.T) {
	const name = "ext.graylane.test"
	dns := newDNSServer(t, name)
	dns.set("127.0.0.1", "127.0.0.2")
	port, one, two := twoHosts(t)
	manifests := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: ext}
spec:
  hosts: [%s]
  ports: [{number: %s, name: http, protocol: HTTP}]
  resolution: DNS
`, name, port)
	_, l := serveRoutedWith(t, Options{Resolver: dns.resolver(), DNSRefresh: time.Millisecond}, manifests)
	get := func() string {
		t.Helper()
		code, body := proxyGet(t, l, name+":"+port, "/", nil)
		if code != http.StatusOK {
			t.Fatalf("answered %d %q", code, body)
		}
		return strings.Fields(body)[0]
	}
	for range 10 {
		get()
	}
	if one.count() == 0 || two.count() == 0 || one.count()+two.count() != 10 {
		t.Errorf("requests to 127.0.0.1 and 127.0.0.2: %d and %d, want both of the 10", one.count(), two.count())
	}

	// In turn over two hosts, four requests in a row reach the same one
	// only once the name resolves to it alone.
	dns.set("127.0.0.2")
	waitUntil(t, "requests following the new address", func() bool {
		for range 4 {
			if get() != "two" {
				return false
			}
		}
		return true
	})

	dns.set() // SERVFAIL from now on
	asked := dns.count()
	waitUntil(t, "the name asked again", func() bool { get(); return dns.count() > asked+1 })
	before := one.count()
	for range 4 {
		if got := get(); got != "two" {
			t.Errorf("with the name failing to resolve, a request reached %q, want the last address (two)", got)
		}
	}
	if one.count() != before {
		t.Errorf("127.0.0.1 got requests after it left the name")
	}
}

// TestDNSRefreshFromStart: a name's refresh period is counted from when
// its resolution starts, so that under steady lookups it is resolved
// again every refresh, not every refresh plus however long the last
// resolution took (which member lists, looking names up once per
// refresh, would round up to two refreshes).
func TestDNSRefreshFromStart(t *testing.T) {
	release := make(chan struct{})
	dials := make(chan struct{}, 8)
	blocking := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dials <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("no DNS here")
	}}
	d := newDNSHosts(blocking, time.Hour)
	stale := time.Now().Add(-2 * time.Hour)
	d.names["ext.graylane.test"] = &dnsName{addrs: []string{"127.0.0.1"}, at: stale}
	before := time.Now()
	if got := d.lookup("ext.graylane.test"); len(got) != 1 {
		t.Fatalf("lookup = %v, want the last addresses while it resolves again", got)
	}
	<-dials // the resolution is under way, held
	d.mu.Lock()
	at, busy := d.names["ext.graylane.test"].at, d.names["ext.graylane.test"].busy
	d.mu.Unlock()
	close(release)
	if !busy || at.Before(before) {
		t.Errorf("while resolving: busy %v, started at %v; want busy, started at or after %v", busy, at, before)
	}
}
