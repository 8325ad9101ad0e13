package auth

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// User is an authenticated caller.
type User struct {
	Name   string
	Groups []string
}

// IsMaster reports whether u may do everything.
func (u *User) IsMaster() bool { return u.inGroup(MastersGroup) }

// NodeName returns the node u speaks for ("" when u is not a node).
func (u *User) NodeName() string {
	if !u.inGroup(NodesGroup) || !strings.HasPrefix(u.Name, NodeUserPrefix) {
		return ""
	}
	return strings.TrimPrefix(u.Name, NodeUserPrefix)
}

func (u *User) inGroup(g string) bool {
	for _, x := range u.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// Authenticate returns the caller of r from its verified client
// certificate, or nil. The TLS listener verifies chains against the CA
// (tls.VerifyClientCertIfGiven), so a present chain is a trusted one.
func Authenticate(r *http.Request) *User {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	c := r.TLS.VerifiedChains[0][0]
	if c.Subject.CommonName == "" {
		return nil
	}
	return &User{Name: c.Subject.CommonName, Groups: append([]string(nil), c.Subject.Organization...)}
}

// BearerMatches reports whether r carries token as its bearer token.
func BearerMatches(r *http.Request, token string) bool {
	h := r.Header.Get("Authorization")
	got, ok := strings.CutPrefix(h, "Bearer ")
	return ok && token != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}
