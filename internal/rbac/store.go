package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth-dev/berth/internal/storage"
)

// StoreLoader reads the policy from the store's local member (the watch
// cache path: no quorum round per reload).
func StoreLoader(s *storage.Store) func(ctx context.Context) (*Policy, error) {
	return func(ctx context.Context) (*Policy, error) {
		p := &Policy{Roles: map[string]*rbacv1.Role{}, ClusterRoles: map[string]*rbacv1.ClusterRole{}}
		for _, res := range []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"} {
			items, err := list(ctx, s, res)
			if err != nil {
				return nil, err
			}
			for _, obj := range items {
				switch o := obj.(type) {
				case *rbacv1.Role:
					p.Roles[o.Namespace+"/"+o.Name] = o
				case *rbacv1.ClusterRole:
					p.ClusterRoles[o.Name] = o
				case *rbacv1.RoleBinding:
					p.RoleBindings = append(p.RoleBindings, o)
				case *rbacv1.ClusterRoleBinding:
					p.ClusterRoleBindings = append(p.ClusterRoleBindings, o)
				}
			}
		}
		return p, nil
	}
}

func list(ctx context.Context, s *storage.Store, resource string) ([]runtime.Object, error) {
	res, err := s.List(ctx, storage.Key(rbacv1.GroupName, resource, "", ""), storage.ListOptions{Cached: true})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", resource, err)
	}
	return res.Items, nil
}
