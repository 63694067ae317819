// Package tlstest makes, at run time, the certificates TLS tests need: a
// certificate authority, server certificates for given names and IP
// addresses, and client certificates, as PEM files in the test's temporary
// folder and as crypto/tls values. No key is ever committed: every CA and
// key pair is new for each test (ECDSA P-256, crypto/x509).
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority that lives for one test.
type CA struct {
	t    testing.TB
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is the CA certificate as a PEM file (what a client trusts).
	File string
	// Pool holds the CA certificate.
	Pool *x509.CertPool
}

// Pair is one issued certificate with its key.
type Pair struct {
	// CertFile and KeyFile are the PEM files (certificate, PKCS#8 key).
	CertFile, KeyFile string
	// Cert is the same pair for a crypto/tls configuration.
	Cert tls.Certificate
}

// NewCA makes a certificate authority named name; its files are in a
// temporary folder of t.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("tlstest: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: CA certificate: %v", err)
	}
	ca := &CA{t: t, dir: t.TempDir(), cert: cert, key: key, Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	ca.File = ca.write(name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// Server issues a server certificate for hosts: IP addresses become IP
// SANs, other names DNS SANs.
func (ca *CA) Server(name string, hosts ...string) Pair {
	ca.t.Helper()
	tmpl := ca.template(name, x509.ExtKeyUsageServerAuth)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(name, tmpl)
}

// Client issues a client certificate with common name name.
func (ca *CA) Client(name string) Pair {
	ca.t.Helper()
	return ca.issue(name, ca.template(name, x509.ExtKeyUsageClientAuth))
}

// ServerConfig is a server's TLS configuration with pair; with
// requireClientCert, clients must show a certificate this CA signed.
func (ca *CA) ServerConfig(pair Pair, requireClientCert bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{pair.Cert}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool
	}
	return c
}

// ClientConfig is a client's TLS configuration trusting this CA.
func (ca *CA) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
}

func (ca *CA) template(name string, usage x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial(ca.t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
}

func (ca *CA) issue(name string, tmpl *x509.Certificate) Pair {
	ca.t.Helper()
	key := newKey(ca.t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatalf("tlstest: certificate %s: %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.t.Fatalf("tlstest: key %s: %v", name, err)
	}
	p := Pair{CertFile: ca.write(name+".pem", "CERTIFICATE", der), KeyFile: ca.write(name+"-key.pem", "PRIVATE KEY", keyDER)}
	p.Cert, err = tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		ca.t.Fatalf("tlstest: key pair %s: %v", name, err)
	}
	return p
}

func (ca *CA) write(name, typ string, der []byte) string {
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		ca.t.Fatalf("tlstest: %v", err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatalf("tlstest: serial: %v", err)
	}
	return n
}
