// Package auth holds the cluster's identities: the CA, the API server's
// serving certificate, client certificates (admin, nodes), the admin
// kubeconfig and the join token, all kept in the data dir the way k3s keeps
// them under /var/lib/rancher/k3s/server/tls.
package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names of the files under DATA_DIR/tls.
const (
	caCertFile     = "ca.crt"
	caKeyFile      = "ca.key"
	servingCert    = "serving.crt"
	servingKey     = "serving.key"
	adminCertFile  = "admin.crt"
	adminKeyFile   = "admin.key"
	kubeletCert    = "kubelet-client.crt"
	kubeletKey     = "kubelet-client.key"
	certValidity   = 10 * 365 * 24 * time.Hour
	clockSkewGrace = time.Hour
)

// MastersGroup is the group that may do everything, as upstream's
// system:masters.
const MastersGroup = "system:masters"

// NodesGroup and NodeUserPrefix name node identities (upstream's Node authorizer).
const (
	NodesGroup     = "system:nodes"
	NodeUserPrefix = "system:node:"
)

// PKI is the cluster CA and what the API server serves and signs with.
type PKI struct {
	Dir       string
	CA        *x509.Certificate
	CAKey     crypto.Signer
	CAPEM     []byte
	Serving   tlsPair // the API server's serving certificate
	AdminCert []byte  // PEM, CN=admin, O=system:masters
	AdminKey  []byte
	// KubeletClient is what the API server presents to node agents when it
	// proxies logs, exec and port-forward (upstream's
	// apiserver-kubelet-client certificate).
	KubeletClient tls.Certificate
}

type tlsPair struct{ CertPEM, KeyPEM []byte }

// ServingPair returns the serving certificate and key PEMs.
func (p *PKI) ServingPair() (certPEM, keyPEM []byte) { return p.Serving.CertPEM, p.Serving.KeyPEM }

// LoadOrCreatePKI opens the PKI in dir, creating what is missing. The
// serving certificate is reissued (with the same CA) when it lacks one of
// sans, so a restart on a host with a new address still verifies.
func LoadOrCreatePKI(dir string, sans []string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	p := &PKI{Dir: dir}
	if err := p.loadOrCreateCA(); err != nil {
		return nil, err
	}
	if err := p.loadOrCreateServing(sans); err != nil {
		return nil, err
	}
	cert, key, err := p.loadOrIssueClient(adminCertFile, adminKeyFile, "admin", []string{MastersGroup})
	if err != nil {
		return nil, err
	}
	p.AdminCert, p.AdminKey = cert, key
	cert, key, err = p.loadOrIssueClient(kubeletCert, kubeletKey, "kube-apiserver-kubelet-client", []string{MastersGroup})
	if err != nil {
		return nil, err
	}
	if p.KubeletClient, err = tls.X509KeyPair(cert, key); err != nil {
		return nil, fmt.Errorf("kubelet client certificate: %w", err)
	}
	return p, nil
}

func (p *PKI) loadOrCreateCA() error {
	certPath, keyPath := filepath.Join(p.Dir, caCertFile), filepath.Join(p.Dir, caKeyFile)
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil {
		cert, key, err := parsePair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("load CA: %w", err)
		}
		p.CA, p.CAKey, p.CAPEM = cert, key, certPEM
		return nil
	}
	if !errors.Is(err1, os.ErrNotExist) && err1 != nil {
		return fmt.Errorf("read CA: %w", err1)
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("berth-ca@%d", now.Unix())},
		NotBefore:             now.Add(-clockSkewGrace),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("create CA: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKeyPair(certPath, keyPath, certPEM, key); err != nil {
		return err
	}
	p.CA, p.CAKey, p.CAPEM = cert, key, certPEM
	return nil
}

func (p *PKI) loadOrCreateServing(sans []string) error {
	certPath, keyPath := filepath.Join(p.Dir, servingCert), filepath.Join(p.Dir, servingKey)
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil {
		cert, _, err := parsePair(certPEM, keyPEM)
		if err == nil && coversSANs(cert, sans) && time.Now().Before(cert.NotAfter) {
			p.Serving = tlsPair{certPEM, keyPEM}
			return nil
		}
	}
	// Keep the SANs of the previous certificate too: an agent may still use an old address.
	if cert, _, err := parsePair(certPEM, keyPEM); err1 == nil && err2 == nil && err == nil {
		for _, ip := range cert.IPAddresses {
			sans = append(sans, ip.String())
		}
		sans = append(sans, cert.DNSNames...)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, s := range dedupe(sans) {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	certPEM, keyPEM, err := p.sign(tmpl)
	if err != nil {
		return fmt.Errorf("issue serving certificate: %w", err)
	}
	if err := writeFiles(certPath, certPEM, keyPath, keyPEM); err != nil {
		return err
	}
	p.Serving = tlsPair{certPEM, keyPEM}
	return nil
}

func (p *PKI) loadOrIssueClient(certFile, keyFile, user string, groups []string) ([]byte, []byte, error) {
	certPath, keyPath := filepath.Join(p.Dir, certFile), filepath.Join(p.Dir, keyFile)
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil {
		if _, _, err := parsePair(certPEM, keyPEM); err == nil {
			return certPEM, keyPEM, nil
		}
	}
	certPEM, keyPEM, err := p.IssueClient(user, groups)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, writeFiles(certPath, certPEM, keyPath, keyPEM)
}

// IssueClient signs a client certificate for user (CN) in groups (O), the
// identity the API server's authenticator reads back.
func (p *PKI) IssueClient(user string, groups []string) (certPEM, keyPEM []byte, err error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	certPEM, keyPEM, err = p.sign(tmpl)
	if err != nil {
		return nil, nil, fmt.Errorf("issue client certificate for %s: %w", user, err)
	}
	return certPEM, keyPEM, nil
}

func (p *PKI) sign(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-clockSkewGrace)
	tmpl.NotAfter = now.Add(certValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, key.Public(), p.CAKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// LoadOrCreateToken returns the join token kept in path, creating it once.
func LoadOrCreateToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return tok, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func coversSANs(cert *x509.Certificate, sans []string) bool {
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(cert.DNSNames, s) {
			return false
		}
	}
	return true
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func writeKeyPair(certPath, keyPath string, certPEM []byte, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writeFiles(certPath, certPEM, keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// writeFiles writes the key before the certificate so a crash in between
// leaves no certificate without its key.
func writeFiles(certPath string, certPEM []byte, keyPath string, keyPEM []byte) error {
	if err := writeAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, certPEM, 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
