package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func parseCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPKIPersistsAndReissuesServing(t *testing.T) {
	dir := t.TempDir()
	p1, err := LoadOrCreatePKI(dir, []string{"10.0.0.1", "127.0.0.1", "kubernetes.default.svc"})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p1.CA)
	serving := parseCert(t, p1.Serving.CertPEM)
	for _, host := range []string{"10.0.0.1", "127.0.0.1", "kubernetes.default.svc"} {
		if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	admin := parseCert(t, p1.AdminCert)
	if admin.Subject.CommonName != "admin" || !slices.Equal(admin.Subject.Organization, []string{MastersGroup}) {
		t.Errorf("admin subject = %v", admin.Subject)
	}
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin certificate: %v", err)
	}
	for _, f := range []string{caKeyFile, servingKey, adminKeyFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", f, err, fi.Mode())
		}
	}

	// Same SANs: everything is kept.
	p2, err := LoadOrCreatePKI(dir, []string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if string(p2.CAPEM) != string(p1.CAPEM) || string(p2.Serving.CertPEM) != string(p1.Serving.CertPEM) || string(p2.AdminCert) != string(p1.AdminCert) {
		t.Error("restart with the same SANs changed a certificate")
	}
	// A new address: same CA, new serving certificate that keeps the old names.
	p3, err := LoadOrCreatePKI(dir, []string{"10.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if string(p3.CAPEM) != string(p1.CAPEM) {
		t.Error("new address changed the CA")
	}
	s3 := parseCert(t, p3.Serving.CertPEM)
	for _, host := range []string{"10.0.0.1", "10.0.0.2", "kubernetes.default.svc"} {
		if _, err := s3.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("reissued serving certificate for %s: %v", host, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	p, err := LoadOrCreatePKI(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := p.IssueClient(NodeUserPrefix+"n1", []string{NodesGroup})
	if err != nil {
		t.Fatal(err)
	}
	node := parseCert(t, certPEM)
	r := &http.Request{TLS: &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{node, p.CA}}}}
	u := Authenticate(r)
	if u == nil || u.NodeName() != "n1" || u.IsMaster() {
		t.Fatalf("node user = %+v", u)
	}
	admin := parseCert(t, p.AdminCert)
	r.TLS.VerifiedChains = [][]*x509.Certificate{{admin, p.CA}}
	if u := Authenticate(r); u == nil || !u.IsMaster() || u.NodeName() != "" {
		t.Errorf("admin user = %+v", u)
	}
	// Without a verified chain (no or an untrusted certificate) there is no user.
	r.TLS.VerifiedChains = nil
	if u := Authenticate(r); u != nil {
		t.Errorf("unverified request authenticated as %+v", u)
	}
	if u := Authenticate(&http.Request{}); u != nil {
		t.Errorf("plain request authenticated as %+v", u)
	}
}

func TestToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	tok, err := LoadOrCreateToken(path)
	if err != nil || len(tok) < 32 {
		t.Fatalf("token %q: %v", tok, err)
	}
	again, err := LoadOrCreateToken(path)
	if err != nil || again != tok {
		t.Errorf("second load = %q, %v; want %q", again, err, tok)
	}
	r, _ := http.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if !BearerMatches(r, tok) {
		t.Error("right token refused")
	}
	r.Header.Set("Authorization", "Bearer x"+tok)
	if BearerMatches(r, tok) {
		t.Error("wrong token accepted")
	}
	if BearerMatches(r, "") {
		t.Error("empty server token accepted")
	}
}
