package auth

import (
	"strings"
	"testing"
	"time"
)

func TestTokenSignerVerify(t *testing.T) {
	dir := t.TempDir()
	s, err := LoadOrCreateTokenSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	sa := ObjectRef{Name: "default", UID: "u1"}
	tok, err := s.Sign(NewTokenClaims("ns1", sa, &ObjectRef{Name: "p", UID: "u2"}, []string{Issuer}, now, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateTokenSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Sign(NewTokenClaims("ns1", sa, nil, []string{Issuer}, now, time.Hour))
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + b64([]byte(`{"iss":"`+Issuer+`"}`)) + "." + parts[2]
	for _, tc := range []struct {
		name, token string
		auds        []string
		at          time.Time
		wantErr     string
	}{
		{"valid", tok, []string{Issuer}, now.Add(time.Minute), ""},
		{"expired", tok, []string{Issuer}, now.Add(2 * time.Hour), "expired"},
		{"wrong audience", tok, []string{"vault"}, now, "audience"},
		{"other key", foreign, []string{Issuer}, now, "signature invalid"},
		{"tampered claims", tampered, []string{Issuer}, now, "signature invalid"},
		{"not a jwt", "abc", []string{Issuer}, now, "not a JWS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.Verify(tc.token, tc.auds, tc.at)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := c.User()
			if u.Name != "system:serviceaccount:ns1:default" || strings.Join(u.Groups, ",") != "system:serviceaccounts,system:serviceaccounts:ns1,system:authenticated" {
				t.Errorf("user = %+v", u)
			}
			if c.Kubernetes.Pod == nil || c.Kubernetes.Pod.UID != "u2" {
				t.Errorf("pod claim = %+v", c.Kubernetes.Pod)
			}
		})
	}
	// The key persists: a restart verifies tokens issued before it.
	again, err := LoadOrCreateTokenSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Verify(tok, []string{Issuer}, now); err != nil {
		t.Errorf("after reload: %v", err)
	}
}
