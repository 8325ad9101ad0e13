package storage

import (
	"errors"
	"testing"
)

func TestKey(t *testing.T) {
	tests := []struct {
		group, resource, ns, name, want string
	}{
		{"", "pods", "default", "web", "/registry/core/pods/default/web"},
		{"apps", "deployments", "ns1", "d", "/registry/apps/deployments/ns1/d"},
		{"", "nodes", "", "n1", "/registry/core/nodes/n1"},
		// Prefixes end in "/" so "default" never matches "default2".
		{"", "pods", "default", "", "/registry/core/pods/default/"},
		{"", "pods", "", "", "/registry/core/pods/"},
	}
	for _, tc := range tests {
		if got := Key(tc.group, tc.resource, tc.ns, tc.name); got != tc.want {
			t.Errorf("Key(%q,%q,%q,%q) = %q, want %q", tc.group, tc.resource, tc.ns, tc.name, got, tc.want)
		}
	}
}

// A continue token is only valid under the prefix it was made for, so a
// token from one namespace cannot page through another.
func TestContinueToken(t *testing.T) {
	tok := encodeContinue(42, "/registry/core/pods/a/x\x00")
	for _, tc := range []struct {
		prefix, token string
		valid         bool
	}{
		{"/registry/core/pods/a/", tok, true},
		{"/registry/core/pods/", tok, true},
		{"/registry/core/pods/b/", tok, false},
		{"/registry/core/pods/a/", "not base64!", false},
		{"/registry/core/pods/a/", encodeContinue(0, "/registry/core/pods/a/x"), false},
	} {
		start, rev, err := parseContinue(tc.prefix, tc.token)
		var ce *InvalidContinueError
		switch {
		case tc.valid && (err != nil || rev != 42 || start != "/registry/core/pods/a/x\x00"):
			t.Errorf("prefix %q: got %q %d %v, want the token's start and revision", tc.prefix, start, rev, err)
		case !tc.valid && !errors.As(err, &ce):
			t.Errorf("prefix %q token %q: err = %v, want InvalidContinueError", tc.prefix, tc.token, err)
		}
	}
}

func TestExpiredError(t *testing.T) {
	e := &ExpiredError{Requested: 5, Compacted: 10}
	if got, want := e.Error(), "too old resource version: 5 (10)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
