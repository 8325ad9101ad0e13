package rbac

import (
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkAllows measures one decision against a policy of n RoleBindings
// (in n namespaces) plus the default ClusterRoles, for the last
// namespace's account: the worst case of the linear scan.
func BenchmarkAllows(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		p := &Policy{ClusterRoles: map[string]*rbacv1.ClusterRole{}, Roles: map[string]*rbacv1.Role{}}
		for name, rules := range clusterRoles {
			p.ClusterRoles[name] = &rbacv1.ClusterRole{Rules: rules}
		}
		for i := range n {
			ns := fmt.Sprintf("ns%d", i)
			p.RoleBindings = append(p.RoleBindings, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default"}},
				RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}})
		}
		last := fmt.Sprintf("ns%d", n-1)
		r := &Request{User: "system:serviceaccount:" + last + ":default", Groups: []string{"system:authenticated"},
			Verb: "list", Resource: "pods", Namespace: last}
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			for b.Loop() {
				if !p.Allows(r) {
					b.Fatal("denied")
				}
			}
		})
	}
}
