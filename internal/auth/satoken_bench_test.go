package auth

import (
	"testing"
	"time"
)

// BenchmarkTokenVerify is the signature and claims check every request
// with a service account token pays (before the account lookup).
func BenchmarkTokenVerify(b *testing.B) {
	s, err := LoadOrCreateTokenSigner(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, err := s.Sign(NewTokenClaims("default", ObjectRef{Name: "default", UID: "u"}, nil, []string{Issuer}, now, time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Verify(tok, []string{Issuer}, now); err != nil {
			b.Fatal(err)
		}
	}
}
