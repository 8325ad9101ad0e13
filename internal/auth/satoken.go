package auth

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ServiceAccountKeyFile is the token signing key under DATA_DIR/tls; every
// server of a cluster must hold the same one.
const ServiceAccountKeyFile = "service-account.key"

// Issuer is the iss claim of service account tokens and their default
// audience, as upstream's --service-account-issuer in kubeadm clusters.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// ServiceAccountUserPrefix and the groups name service account identities.
const (
	ServiceAccountUserPrefix   = "system:serviceaccount:"
	ServiceAccountsGroup       = "system:serviceaccounts"
	AuthenticatedGroup         = "system:authenticated"
	serviceAccountGroupPrefix  = "system:serviceaccounts:"
	es256SignatureHalfLen      = 32
	tokenVerificationClockSkew = 60 * time.Second
)

// TokenClaims are the claims of a bound service account token, as
// upstream's serviceaccount.privateClaims.
type TokenClaims struct {
	Issuer     string    `json:"iss"`
	Subject    string    `json:"sub"`
	Audience   []string  `json:"aud"`
	Expiry     int64     `json:"exp"`
	IssuedAt   int64     `json:"iat"`
	NotBefore  int64     `json:"nbf"`
	JTI        string    `json:"jti,omitempty"`
	Kubernetes K8sClaims `json:"kubernetes.io"`
}

// K8sClaims is the kubernetes.io claim: what the token is bound to.
type K8sClaims struct {
	Namespace      string     `json:"namespace"`
	ServiceAccount ObjectRef  `json:"serviceaccount"`
	Pod            *ObjectRef `json:"pod,omitempty"`
}

// ObjectRef names one object a token is bound to.
type ObjectRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// TokenSigner issues and verifies service account JWTs (ES256).
type TokenSigner struct {
	key *ecdsa.PrivateKey
	kid string
}

// LoadOrCreateTokenSigner opens DATA_DIR/tls/service-account.key, creating
// it once so tokens stay valid across restarts.
func LoadOrCreateTokenSigner(dir string) (*TokenSigner, error) {
	path := filepath.Join(dir, ServiceAccountKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: not PEM", path)
		}
		key, err := x509.ParseECPrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return newTokenSigner(key)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return newTokenSigner(key)
}

func newTokenSigner(key *ecdsa.PrivateKey) (*TokenSigner, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	// Upstream's key id: the base64url SHA-256 of the public key's DER.
	sum := sha256.Sum256(der)
	return &TokenSigner{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// Sign returns c as a compact JWS.
func (s *TokenSigner) Sign(c *TokenClaims) (string, error) {
	hdr, err := json.Marshal(map[string]string{"alg": "ES256", "kid": s.kid})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	input := b64(hdr) + "." + b64(body)
	digest := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	sig := make([]byte, 2*es256SignatureHalfLen)
	r.FillBytes(sig[:es256SignatureHalfLen])
	sv.FillBytes(sig[es256SignatureHalfLen:])
	return input + "." + b64(sig), nil
}

// Verify checks token's signature, issuer, time window and that one of
// its audiences is in audiences, and returns its claims.
func (s *TokenSigner) Verify(token string, audiences []string, now time.Time) (*TokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("token is not a JWS")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil || hdr.Alg != "ES256" {
		return nil, errors.New("token header: unsupported algorithm")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 2*es256SignatureHalfLen {
		return nil, errors.New("token signature malformed")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r := new(big.Int).SetBytes(sig[:es256SignatureHalfLen])
	sv := new(big.Int).SetBytes(sig[es256SignatureHalfLen:])
	if !ecdsa.Verify(&s.key.PublicKey, digest[:], r, sv) {
		return nil, errors.New("token signature invalid")
	}
	var c TokenClaims
	if err := decodeSegment(parts[1], &c); err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	if c.Issuer != Issuer {
		return nil, errors.New("token issuer unknown")
	}
	if now.After(time.Unix(c.Expiry, 0).Add(tokenVerificationClockSkew)) {
		return nil, errors.New("token has expired")
	}
	if now.Add(tokenVerificationClockSkew).Before(time.Unix(c.NotBefore, 0)) {
		return nil, errors.New("token not valid yet")
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(audiences, a) }) {
		return nil, errors.New("token audience invalid")
	}
	if c.Subject != ServiceAccountUserPrefix+c.Kubernetes.Namespace+":"+c.Kubernetes.ServiceAccount.Name {
		return nil, errors.New("token subject does not match its service account")
	}
	return &c, nil
}

// NewTokenClaims returns the claims of a token for the service account
// ns/sa (bound to pod when not nil) valid for ttl from now.
func NewTokenClaims(ns string, sa ObjectRef, pod *ObjectRef, audiences []string, now time.Time, ttl time.Duration) *TokenClaims {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	return &TokenClaims{
		Issuer:     Issuer,
		Subject:    ServiceAccountUserPrefix + ns + ":" + sa.Name,
		Audience:   audiences,
		IssuedAt:   now.Unix(),
		NotBefore:  now.Unix(),
		Expiry:     now.Add(ttl).Unix(),
		JTI:        base64.RawURLEncoding.EncodeToString(jti),
		Kubernetes: K8sClaims{Namespace: ns, ServiceAccount: sa, Pod: pod},
	}
}

// User returns the identity a verified token stands for.
func (c *TokenClaims) User() *User {
	ns := c.Kubernetes.Namespace
	return &User{
		Name:   ServiceAccountUserPrefix + ns + ":" + c.Kubernetes.ServiceAccount.Name,
		Groups: []string{ServiceAccountsGroup, serviceAccountGroupPrefix + ns, AuthenticatedGroup},
	}
}

// BearerToken returns r's bearer token, or "".
func BearerToken(h http.Header) string {
	got, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(got)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
