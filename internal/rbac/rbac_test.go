package rbac

import (
	"context"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPolicyAllows(t *testing.T) {
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: "team"}
	p := &Policy{
		ClusterRoles: map[string]*rbacv1.ClusterRole{
			"view":             {Rules: viewRules},
			"system:discovery": {Rules: clusterRoles["system:discovery"]},
		},
		Roles: map[string]*rbacv1.Role{
			"team/log-one": {Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}, ResourceNames: []string{"web"}}}},
		},
		RoleBindings: []*rbacv1.RoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}, Subjects: []rbacv1.Subject{sa}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "log-one"}},
		},
		ClusterRoleBindings: []*rbacv1.ClusterRoleBinding{
			{Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "system:authenticated"}}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "system:discovery"}},
		},
	}
	saUser := "system:serviceaccount:team:default"
	authd := []string{"system:authenticated"}
	for _, tc := range []struct {
		name string
		r    Request
		want bool
	}{
		{"view lists pods in its namespace", Request{User: saUser, Verb: "list", Resource: "pods", Namespace: "team"}, true},
		{"not in another namespace", Request{User: saUser, Verb: "list", Resource: "pods", Namespace: "default"}, false},
		{"not cluster-wide", Request{User: saUser, Verb: "list", Resource: "pods"}, false},
		{"view cannot delete", Request{User: saUser, Verb: "delete", Resource: "pods", Namespace: "team", Name: "x"}, false},
		{"view cannot read secrets", Request{User: saUser, Verb: "get", Resource: "secrets", Namespace: "team", Name: "x"}, false},
		{"subresource by name", Request{User: "alice", Verb: "get", Resource: "pods", Subresource: "log", Namespace: "team", Name: "web"}, true},
		{"other name", Request{User: "alice", Verb: "get", Resource: "pods", Subresource: "log", Namespace: "team", Name: "db"}, false},
		{"the pod itself", Request{User: "alice", Verb: "get", Resource: "pods", Namespace: "team", Name: "web"}, false},
		{"api group must match", Request{User: saUser, Verb: "list", APIGroup: "apps", Resource: "pods", Namespace: "team"}, false},
		{"discovery url", Request{User: "bob", Groups: authd, Verb: "get", NonResourceURL: "/apis/apps"}, true},
		{"other url", Request{User: "bob", Groups: authd, Verb: "get", NonResourceURL: "/metrics"}, false},
		{"unbound user", Request{User: "bob", Verb: "list", Resource: "pods", Namespace: "team"}, false},
	} {
		if got := p.Allows(&tc.r); got != tc.want {
			t.Errorf("%s: Allows = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAuthorizerReloadsAfterTTL(t *testing.T) {
	loads := 0
	bound := false
	a := NewAuthorizer(func(context.Context) (*Policy, error) {
		loads++
		p := &Policy{ClusterRoles: map[string]*rbacv1.ClusterRole{"view": {Rules: viewRules}}}
		if bound {
			p.ClusterRoleBindings = []*rbacv1.ClusterRoleBinding{{Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "bob"}}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}}}
		}
		return p, nil
	}, time.Second)
	now := time.Unix(100, 0)
	a.now = func() time.Time { return now }
	r := &Request{User: "bob", Verb: "list", Resource: "pods"}
	if ok, _ := a.Allows(context.Background(), r); ok {
		t.Fatal("allowed before the binding")
	}
	bound = true
	if ok, _ := a.Allows(context.Background(), r); ok || loads != 1 {
		t.Fatalf("within TTL: allowed=%v loads=%d, want cached denial", ok, loads)
	}
	now = now.Add(time.Second)
	if ok, _ := a.Allows(context.Background(), r); !ok || loads != 2 {
		t.Fatalf("after TTL: allowed=%v loads=%d, want the new binding", ok, loads)
	}
}
