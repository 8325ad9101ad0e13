package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "delete", "deletecollection", "patch", "update"}
)

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func urls(paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: paths}
}

// viewRules, editRules and adminRules are what upstream's aggregated
// view, edit and admin roles hold once their aggregation has run.
var (
	viewRules = []rbacv1.PolicyRule{
		rule(readVerbs, "", "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
			"replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status",
			"bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
			"replicationcontrollers/status", "resourcequotas", "resourcequotas/status", "namespaces"),
		rule(readVerbs, "discovery.k8s.io", "endpointslices"),
		rule(readVerbs, "apps", "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
			"deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"),
		rule(readVerbs, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		rule(readVerbs, "batch", "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
		rule(readVerbs, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
		rule(readVerbs, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies"),
	}
	editRules = append(append([]rbacv1.PolicyRule{}, viewRules...),
		rule(writeVerbs, "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "configmaps", "endpoints",
			"persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts",
			"services", "services/proxy"),
		rule([]string{"get", "list", "watch"}, "", "secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy"),
		rule([]string{"create"}, "", "pods/eviction", "serviceaccounts/token"),
		rule(writeVerbs, "apps", "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
			"replicasets/scale", "statefulsets", "statefulsets/scale"),
		rule(writeVerbs, "autoscaling", "horizontalpodautoscalers"),
		rule(writeVerbs, "batch", "cronjobs", "jobs"),
		rule(writeVerbs, "policy", "poddisruptionbudgets"),
		rule(writeVerbs, "networking.k8s.io", "ingresses", "networkpolicies"),
		rule(writeVerbs, "discovery.k8s.io", "endpointslices"),
	)
	adminRules = append(append([]rbacv1.PolicyRule{}, editRules...),
		rule(append(append([]string{}, readVerbs...), writeVerbs...), rbacv1.GroupName, "roles", "rolebindings"),
		rule([]string{"create"}, "authorization.k8s.io", "localsubjectaccessreviews"),
	)
)

// clusterRoles are upstream's default roles that berth needs.
var clusterRoles = map[string][]rbacv1.PolicyRule{
	"cluster-admin": {
		{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
		{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
	},
	"admin": adminRules,
	"edit":  editRules,
	"view":  viewRules,
	"system:discovery": {urls("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
		"/readyz", "/version", "/version/")},
	"system:basic-user": {
		rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
		rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews"),
	},
	"system:public-info-viewer": {urls("/healthz", "/livez", "/readyz", "/version", "/version/")},
}

// clusterRoleBindings bind the default roles as upstream does.
var clusterRoleBindings = map[string][]string{ // role (and binding) name -> groups
	"cluster-admin":             {"system:masters"},
	"system:discovery":          {"system:authenticated"},
	"system:basic-user":         {"system:authenticated"},
	"system:public-info-viewer": {"system:authenticated", "system:unauthenticated"},
}

func bootstrapMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"},
		Annotations: map[string]string{"rbac.authorization.kubernetes.io/autoupdate": "true"},
	}
}

// Bootstrap creates the default ClusterRoles and ClusterRoleBindings that
// are missing. Existing ones are left as the administrator changed them.
func Bootstrap(ctx context.Context, cs kubernetes.Interface) error {
	create := metav1.CreateOptions{FieldManager: "berth-rbac-bootstrap"}
	for name, rules := range clusterRoles {
		_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: bootstrapMeta(name), Rules: rules}, create)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create clusterrole %s: %w", name, err)
		}
	}
	for name, groups := range clusterRoleBindings {
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: bootstrapMeta(name),
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}
		for _, g := range groups {
			b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
		}
		_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, b, create)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create clusterrolebinding %s: %w", name, err)
		}
	}
	return nil
}
